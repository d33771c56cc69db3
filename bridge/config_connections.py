"""The connections a configuration names: a local folder, an SFTP server, an FTP(S) server
(the part of :mod:`bridge.config` that says where files are, not what is done to them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalConnection(Strict):
    type: Literal["local"] = "local"
    root: Path = Field(Path("."), description="Folder that the flows' folders are relative to.")


class SftpConnection(Strict):
    type: Literal["sftp"]
    host: str
    port: int = 22
    user: str
    password: SecretStr | None = Field(None, description="Use ${ENV_VAR}; never write it here.")
    key_file: Path | None = None
    key_passphrase: SecretStr | None = Field(None, description="Use ${ENV_VAR}.")
    known_hosts: Path | None = None
    host_key_fingerprint: str | None = Field(None, description="SHA256:... pinned host key.")
    insecure_skip_host_key_check: bool = False
    root: str = "."
    timeout: float = 30.0


class FtpConnection(Strict):
    """Plain FTP, or explicit FTPS (AUTH TLS) with ``type: ftps``."""

    type: Literal["ftp", "ftps"]
    host: str
    port: int = 21
    user: str = "anonymous"
    password: SecretStr | None = Field(None, description="Use ${ENV_VAR}; never write it here.")
    passive: bool = True
    ca_file: Path | None = Field(None, description="CA bundle to verify the FTPS server.")
    insecure_skip_tls_verify: bool = False
    root: str = "."
    timeout: float = 30.0


Connection = Annotated[LocalConnection | SftpConnection | FtpConnection,
                       Field(discriminator="type")]
