"""A seeded generator of Shopify-style order exports, for benchmarks and tests.

One row per line item; the order's own fields only on the first row of each order, the
order ``Name`` on every row (as Shopify exports them). The data is Italian: names with
accents and apostrophes, streets with a comma before the house number, CAPs with leading
zeros (Lazio: 00184), prices with "." and two decimals that add up to the order's totals.
A seeded ~0.1% of rows carry a bad value (a price ``12,5x``, a date ``31/02``, an empty
quantity), so validation has something to find.

Every column is built as a whole array (numpy for numbers, pyarrow.compute for text) and
written in blocks of orders: one million rows take a few seconds, not minutes.

    python bench/gen_orders.py --rows 1000000 --seed 7 out.csv
"""

from __future__ import annotations

import argparse
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

COLUMNS = [
    "Name", "Email", "Financial Status", "Paid at", "Currency", "Subtotal", "Shipping",
    "Taxes", "Total", "Discount Code", "Discount Amount", "Shipping Method", "Created at",
    "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem sku", "Billing Name",
    "Billing Street", "Billing City", "Billing Zip", "Billing Province", "Billing Country",
    "Notes", "Payment Method", "Id", "Vendor",
]
#: Columns written on every row of an order; the others only on its first row.
LINE_COLUMNS = {"Name", "Lineitem quantity", "Lineitem name", "Lineitem price",
                "Lineitem sku", "Vendor"}

FIRST_NAMES = [
    "Giuseppe", "Maria", "Giovanni", "Anna", "Antonio", "Giulia", "Francesco", "Chiara",
    "Niccolò", "Lucia", "Alessandro", "Francesca", "Luca", "Sara", "Marco", "Elena",
    "Matteo", "Martina", "Andrea", "Federica", "Lorenzo", "Alessia", "Davide", "Valentina",
    "Riccardo", "Ilaria", "Gabriele", "Noemi", "Mattia", "Beatrice", "Tommaso", "Aurora",
    "Nicolò", "Ginevra", "Pietro", "Greta", "Emanuele", "Benedetta", "Simone", "Letizia",
]
LAST_NAMES = [
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci",
    "Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa",
    "Giordano", "Rizzo", "Lombardi", "Moretti", "D'Amico", "Barbieri", "Fontana", "Santoro",
    "Mariani", "Rinaldi", "Caruso", "Ferrara", "Galli", "Martini", "Leone", "Longo",
    "Gentile", "Martinelli", "Vitale", "Lombardo", "Serra", "Coppola", "De Santis", "D'Angelo",
    "Cattaneo", "Fabbri", "Pellegrini", "Sanna", "Niccolò", "Forlì", "Zanetti", "Dell'Acqua",
]
STREETS = [
    "Via Roma", "Via Giuseppe Garibaldi", "Corso Vittorio Emanuele II", "Via dei Mille",
    "Piazza della Repubblica", "Viale Europa", "Via Giuseppe Mazzini",
    "Via Camillo Benso di Cavour",
    "Via dell'Orso", "Via XX Settembre", "Corso Italia", "Via Nazionale",
    "Via Appia Nuova", "Largo Argentina", "Via Tiburtina", "Viale Trastevere",
    "Via Dante Alighieri", "Piazza San Marco", "Via Sant'Antonio", "Via Libertà",
]
#: (city, CAP, province, weight): Lazio's CAPs start with 0 and Rome weighs most.
CITIES = [
    ("Roma", "00184", "RM", 14), ("Roma", "00153", "RM", 8), ("Roma", "00197", "RM", 6),
    ("Viterbo", "01100", "VT", 2), ("Rieti", "02100", "RI", 1), ("Frosinone", "03100", "FR", 2),
    ("Latina", "04100", "LT", 2), ("Milano", "20121", "MI", 12), ("Milano", "20146", "MI", 6),
    ("Napoli", "80133", "NA", 8), ("Torino", "10121", "TO", 6), ("Palermo", "90133", "PA", 4),
    ("Genova", "16121", "GE", 3), ("Bologna", "40121", "BO", 4), ("Firenze", "50122", "FI", 4),
    ("Bari", "70121", "BA", 3), ("Catania", "95121", "CT", 3), ("Venezia", "30121", "VE", 2),
    ("Verona", "37121", "VR", 2), ("Aosta", "11100", "AO", 1), ("Forlì", "47121", "FC", 1),
    ("Cantù", "22063", "CO", 1), ("Sant'Agata di Militello", "98076", "ME", 1),
]
#: (name, sku, price in cents, vendor)
PRODUCTS = [
    ("Maglietta in cotone biologico a maniche corte - M / Blu notte", "TR-MAGBIO-M-BLU",
     2490, "Tessuti Riuniti di Bergamo S.r.l."),
    ("Maglietta in cotone biologico a maniche corte - L / Nero", "TR-MAGBIO-L-NER",
     2490, "Tessuti Riuniti di Bergamo S.r.l."),
    ("Felpa con cappuccio e tasca a marsupio - XL / Grigio melange", "TR-FELCAP-XL-GR",
     5900, "Tessuti Riuniti di Bergamo S.r.l."),
    ("Caffè macinato per moka, miscela 100% arabica 250g", "TS-CAF-MAC-250",
     650, "Torrefazione Sant'Eustachio"),
    ("Caffè in grani tostatura media, sacchetto da 1kg", "TS-CAF-GRA-1000",
     2290, "Torrefazione Sant'Eustachio"),
    ("Olio extravergine d'oliva di Puglia, bottiglia da 1L", "FL-OLI-EVO-1000",
     1450, "Frantoio Leone di Bitonto"),
    ("Olio extravergine d'oliva di Puglia, latta da 5L", "FL-OLI-EVO-5000",
     6200, "Frantoio Leone di Bitonto"),
    ("Pasta di Gragnano IGP trafilata al bronzo, paccheri 500g", "PG-PAS-PAC-500",
     390, "Pastificio Greco di Gragnano"),
    ("Taralli pugliesi al finocchietto selvatico 250g", "FC-TAR-FIN-250",
     320, "Antico Forno Caruso"),
    ("Panettone artigianale con uvetta e canditi, 1kg", "FC-PAN-ART-1000",
     3400, "Antico Forno Caruso"),
    ("Tazza da colazione in ceramica dipinta \"Buongiorno\"", "CV-TAZ-CER-BG",
     1200, "Ceramiche Artistiche di Vietri"),
    ("Piatto da portata dipinto a mano Ø 30cm - Limoni", "CV-PIADIP-30-LI",
     4500, "Ceramiche Artistiche di Vietri"),
    ("Borsa a tracolla in pelle conciata al vegetale - Cuoio", "PF-BOR-PEL-CUO",
     12900, "Pelletteria Fiorentina dal 1952"),
    ("Portafoglio uomo in pelle con portamonete - Nero", "PF-POR-UOM-NER",
     3900, "Pelletteria Fiorentina dal 1952"),
    ("Candela profumata in vaso di vetro, fico e cedro 200g", "BS-CAN-PRO-200",
     1890, "Bottega Serra Profumi"),
    ("Carta regalo digitale da 50€", "BS-GIFT-50", 5000, "Bottega Serra Profumi"),
    ("Sapone naturale all'olio d'oliva, panetto da 100g", "BS-SAP-OLI-100",
     450, "Bottega Serra Profumi"),
    ("Vino rosso Montepulciano d'Abruzzo DOC 0,75L", "CM-VIN-ROS-075",
     1590, "Cantina Moretti & Figli"),
    ("Limoncello della Costiera Amalfitana 50cl", "CM-LIM-050",
     1350, "Cantina Moretti & Figli"),
    ("Grembiule da cucina in lino lavato - Taglia unica / Salvia", "TR-GRECUC-U-SAL",
     1990, "Tessuti Riuniti di Bergamo S.r.l."),
]
STATUSES = [("paid", 0.86), ("pending", 0.05), ("refunded", 0.03),
            ("partially_refunded", 0.02), ("authorized", 0.03), ("voided", 0.01)]
SHIPPING = [("Spedizione standard", 690, 0.6), ("Corriere espresso", 1290, 0.25),
            ("Ritiro in negozio", 0, 0.1), ("Spedizione gratuita", 0, 0.05)]
PAYMENTS = [("Shopify Payments", 0.55), ("PayPal Express Checkout", 0.25),
            ("Bonifico bancario", 0.1), ("Contrassegno", 0.05), ("Satispay", 0.05)]
DOMAINS = ["gmail.com", "libero.it", "hotmail.it", "yahoo.it", "tiscali.it", "outlook.com"]
NOTES = [
    "Lasciare al portiere",
    "Citofonare Rossi, scala B, interno 7",
    "Scrivere \"Auguri di buon compleanno\" sul biglietto",
    "Consegna dopo le 18\nGrazie!",
    "È un regalo: non mettere la fattura nel pacco",
    "Se non ci sono, lasciare al bar \"Da Mario\", accanto al civico 3",
    "Fattura intestata a:\nRossi S.r.l., P.IVA 01234567890",
]
#: Order times are spread over this year, in increasing order of Name.
YEAR_START = 1735686000  # 2025-01-01 00:00 +0100
YEAR_SECONDS = 365 * 86400
ORDERS_PER_BLOCK = 100_000
BAD_FRACTION = 0.001
ZONE = "Europe/Rome"
NEEDS_QUOTE = '[",\r\n]'


def ascii_lower(text: str) -> str:
    """An e-mail-safe form of a name: no accents, no spaces or apostrophes."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def pick(rng: np.random.Generator, values: Sequence[str], n: int,
         p: Sequence[float] | None = None) -> pa.Array:
    idx = rng.choice(len(values), size=n, p=None if p is None else np.asarray(p) / sum(p))
    return pc.take(pa.array(values, pa.string()), pa.array(idx))


def money(cents: np.ndarray) -> pa.Array:
    """Cents as "123.45", with at least one digit before the point."""
    digits = pc.utf8_lpad(pc.cast(pa.array(cents), pa.string()), width=3, padding="0")
    units = pc.utf8_slice_codeunits(digits, 0, -2)
    return pc.binary_join_element_wise(units, pc.utf8_slice_codeunits(digits, -2), ".")


def stamp(seconds: np.ndarray) -> pa.Array:
    """Epoch seconds as Shopify writes them: local time in Rome with its offset."""
    ts = pa.array(seconds.astype("int64"), pa.timestamp("s", tz=ZONE))
    return pc.strftime(ts, format="%Y-%m-%d %H:%M:%S %z")


def join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def block(rng: np.random.Generator, first_number: int, items: np.ndarray,
          t0: np.ndarray) -> dict[str, pa.Array]:
    """The columns of the orders whose line counts are ``items``, one value per order or row."""
    n_orders, n_rows = len(items), int(items.sum())
    order_of_row = np.repeat(np.arange(n_orders), items)
    starts = np.concatenate(([0], np.cumsum(items)[:-1]))

    product = rng.integers(0, len(PRODUCTS), n_rows)
    price = np.array([p[2] for p in PRODUCTS], dtype=np.int64)[product]
    qty = rng.choice([1, 2, 3, 4, 6], size=n_rows, p=[0.62, 0.22, 0.09, 0.05, 0.02])
    subtotal = np.add.reduceat(price * qty, starts)

    ship_i = rng.choice(len(SHIPPING), size=n_orders, p=[s[2] for s in SHIPPING])
    shipping = np.array([s[1] for s in SHIPPING], dtype=np.int64)[ship_i]
    # Discount codes: none mostly, 10% off, or 5.00 off (never below zero)
    kind = rng.choice(3, size=n_orders, p=[0.82, 0.12, 0.06])
    discount = np.where(kind == 1, (subtotal + 5) // 10,
                        np.where(kind == 2, np.minimum(500, subtotal), 0))
    total = subtotal - discount + shipping
    taxes = (total * 22 + 61) // 122  # Italian prices include 22% VAT

    status_i = rng.choice(len(STATUSES), size=n_orders, p=[s[1] for s in STATUSES])
    unpaid = np.isin(status_i, [1, 4, 5])
    created = t0
    first = rng.integers(0, len(FIRST_NAMES), n_orders)
    last = rng.integers(0, len(LAST_NAMES), n_orders)
    first_a = pa.array(FIRST_NAMES)
    last_a = pa.array(LAST_NAMES)
    email_num = rng.integers(0, 100, n_orders)
    email = join(
        pc.take(pa.array([ascii_lower(x) for x in FIRST_NAMES]), pa.array(first)), ".",
        pc.take(pa.array([ascii_lower(x) for x in LAST_NAMES]), pa.array(last)),
        pc.if_else(pa.array(email_num < 60), "",
                   pc.cast(pa.array(email_num), pa.string())),
        "@", pick(rng, DOMAINS, n_orders),
    )
    city_i = rng.choice(len(CITIES), size=n_orders, p=np.array([c[3] for c in CITIES]) /
                        sum(c[3] for c in CITIES))
    note_i = rng.integers(0, len(NOTES) * 3, n_orders)  # about 1 order in 3 has a note
    notes_ext = pa.array([*NOTES, ""])
    note = pc.take(notes_ext, pa.array(np.where(note_i < len(NOTES), note_i, len(NOTES))))
    codes = pa.array(["", "BENVENUTO10", "SCONTO5"])

    order_cols: dict[str, pa.Array] = {
        "Email": email,
        "Financial Status": pc.take(pa.array([s[0] for s in STATUSES]), pa.array(status_i)),
        "Paid at": pc.if_else(pa.array(unpaid), "",
                              stamp(created + rng.integers(5, 3600, n_orders))),
        "Currency": pa.array(np.full(n_orders, "EUR")),
        "Subtotal": money(subtotal),
        "Shipping": money(shipping),
        "Taxes": money(taxes),
        "Total": money(total),
        "Discount Code": pc.take(codes, pa.array(kind)),
        "Discount Amount": money(discount),
        "Shipping Method": pc.take(pa.array([s[0] for s in SHIPPING]), pa.array(ship_i)),
        "Created at": stamp(created),
        "Billing Name": join(pc.take(first_a, pa.array(first)), " ",
                             pc.take(last_a, pa.array(last))),
        "Billing Street": join(pick(rng, STREETS, n_orders), ", ",
                               pc.cast(pa.array(rng.integers(1, 200, n_orders)), pa.string())),
        "Billing City": pc.take(pa.array([c[0] for c in CITIES]), pa.array(city_i)),
        "Billing Zip": pc.take(pa.array([c[1] for c in CITIES]), pa.array(city_i)),
        "Billing Province": pc.take(pa.array([c[2] for c in CITIES]), pa.array(city_i)),
        "Billing Country": pa.array(np.full(n_orders, "IT")),
        "Notes": note,
        "Payment Method": pick(rng, [p[0] for p in PAYMENTS], n_orders,
                               [p[1] for p in PAYMENTS]),
        "Id": pc.cast(pa.array(5_800_000_000_000 + first_number * 7 + np.arange(n_orders) * 7),
                      pa.string()),
    }
    names = pc.binary_join_element_wise(
        "#", pc.cast(pa.array(first_number + np.arange(n_orders)), pa.string()), "")
    line_cols: dict[str, pa.Array] = {
        "Name": pc.take(names, pa.array(order_of_row)),
        "Lineitem quantity": pc.cast(pa.array(qty), pa.string()),
        "Lineitem name": pc.take(pa.array([p[0] for p in PRODUCTS]), pa.array(product)),
        "Lineitem price": money(price),
        "Lineitem sku": pc.take(pa.array([p[1] for p in PRODUCTS]), pa.array(product)),
        "Vendor": pc.take(pa.array([p[3] for p in PRODUCTS]), pa.array(product)),
    }
    spoil(rng, order_cols, line_cols, n_orders, n_rows)

    # Continuation rows take an order field's value from a trailing empty string
    is_first = np.zeros(n_rows, dtype=bool)
    is_first[starts] = True
    spread = pa.array(np.where(is_first, order_of_row, n_orders))
    out: dict[str, pa.Array] = {}
    for col in COLUMNS:
        if col in line_cols:
            out[col] = line_cols[col]
        else:
            values = pa.concat_arrays([order_cols[col], pa.array([""])])
            out[col] = pc.take(values, spread)
    return out


def spoil(rng: np.random.Generator, order_cols: dict[str, pa.Array],
          line_cols: dict[str, pa.Array], n_orders: int, n_rows: int) -> None:
    """Put the seeded bad values in: a third bad prices, a third bad dates, a third no qty."""
    bad = rng.random(n_rows) < BAD_FRACTION
    which = rng.integers(0, 3, n_rows)
    price_bad = pa.array(bad & (which == 0))
    line_cols["Lineitem price"] = pc.if_else(price_bad, "12,5x", line_cols["Lineitem price"])
    qty_bad = pa.array(bad & (which == 1))
    line_cols["Lineitem quantity"] = pc.if_else(qty_bad, "", line_cols["Lineitem quantity"])
    # dates live on orders: spoil as many orders as a third of the bad rows
    date_bad = pa.array(rng.random(n_orders) < BAD_FRACTION / 3 * n_rows / max(n_orders, 1))
    order_cols["Created at"] = pc.if_else(date_bad, "31/02/2025 09:50",
                                          order_cols["Created at"])


def quoted(values: pa.Array) -> pa.Array:
    """CSV cells: quoted (with quotes doubled) only where a comma, quote or newline needs it."""
    needs = pc.match_substring_regex(values, NEEDS_QUOTE)
    escaped = join('"', pc.replace_substring(values, '"', '""'), '"')
    return pc.if_else(needs, escaped, values)


def write_block(out: BinaryIO, cols: dict[str, pa.Array]) -> None:
    cells = [quoted(cols[c]) for c in COLUMNS]
    lines = pc.binary_join_element_wise(*cells, ",")
    lines = pc.binary_join_element_wise(lines, "", "\n")
    # A fresh non-null string array holds the lines back to back in its data buffer
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1)
    data = lines.buffers()[2]
    out.write(memoryview(data)[offsets[0]:offsets[-1]])


def generate(out: BinaryIO, rows: int, seed: int) -> int:
    """Write a header and exactly ``rows`` data rows; return the number of orders."""
    master = np.random.SeedSequence(seed)
    rng = np.random.default_rng(master.spawn(1)[0])
    # Line items per order; the last order is cut so the rows come out exact
    items = rng.choice([1, 2, 3, 4, 5], size=max(rows, 1), p=[0.6, 0.22, 0.1, 0.05, 0.03])
    ends = np.cumsum(items)
    n_orders = int(np.searchsorted(ends, rows)) + 1 if rows else 0
    items = items[:n_orders]
    if n_orders:
        items[-1] -= int(ends[n_orders - 1]) - rows
    created = YEAR_START + np.sort(rng.integers(0, YEAR_SECONDS, n_orders))
    out.write((",".join(COLUMNS) + "\n").encode())
    children = master.spawn((n_orders + ORDERS_PER_BLOCK - 1) // ORDERS_PER_BLOCK)
    for b, child in enumerate(children):
        lo, hi = b * ORDERS_PER_BLOCK, min((b + 1) * ORDERS_PER_BLOCK, n_orders)
        cols = block(np.random.default_rng(child), 1001 + lo, items[lo:hi], created[lo:hi])
        write_block(out, cols)
    return n_orders


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--rows", type=int, default=100_000, help="data rows (line items)")
    ap.add_argument("--seed", type=int, default=1, help="random seed: same seed, same bytes")
    ap.add_argument("out", type=Path, help="CSV file to write")
    args = ap.parse_args(argv)
    t = time.perf_counter()
    with open(args.out, "wb") as fh:
        orders = generate(fh, args.rows, args.seed)
    took = time.perf_counter() - t
    size = args.out.stat().st_size
    print(f"{args.out}: {args.rows:,} rows, {orders:,} orders, {size / 1e6:.1f} MB "
          f"in {took:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
