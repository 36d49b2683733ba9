"""Reading and writing the CSV files (and reading the Excel sheets) surveying offices exchange.

Chinese offices write CSV in UTF-8 (often with a BOM, as Excel does) or in GBK; a file is
read without the user saying which (UTF-8 is tried first, then GBK), or in the encoding
the caller forces (``encoding=``, the commands' ``--encoding``): a GBK file whose bytes
happen to be valid UTF-8 too is read right only when forced. Every column is kept as text so that ids like ``007``
and values are written back exactly as they came.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from geobase.errors import EmptyInputError, InvalidOption, SourceReadError, UnencodableText

# GB18030 is a superset of GBK and GB2312: it decodes every file either writes.
ENCODINGS = ("utf-8-sig", "gb18030")
#: the encodings a reader may be forced to (``utf-8`` and ``utf-8-sig`` both accept a BOM)
READ_ENCODINGS = ("utf-8", "utf-8-sig", "gbk")
_CODECS = {"utf-8": "utf-8-sig", "utf-8-sig": "utf-8-sig", "gbk": "gb18030"}


def decode(data: bytes, source: str = "input", encoding: str | None = None) -> tuple[str, str]:
    """Decode bytes as UTF-8 (with or without BOM) or GBK; return (text, encoding).

    Args:
        data: the bytes.
        source: what they are, for messages.
        encoding: None tries UTF-8, then GBK; one of :data:`READ_ENCODINGS` forces it.

    Raises:
        SourceReadError: the bytes are not text in the encoding(s) tried.
        InvalidOption: ``encoding`` is not one of :data:`READ_ENCODINGS`.
    """
    if encoding is not None:
        if encoding not in READ_ENCODINGS:
            raise InvalidOption(
                f"unknown CSV encoding {encoding!r}: expected one of {', '.join(READ_ENCODINGS)}"
            )
        try:
            text = data.decode(_CODECS[encoding])
        except UnicodeDecodeError as exc:
            raise SourceReadError(
                f"{source}: not {encoding.upper()} text (byte {data[exc.start]:#04x} at offset "
                f"{exc.start}); leave out --encoding to detect UTF-8 or GBK"
            ) from None
        return text, ("gbk" if encoding == "gbk" else "utf-8")
    for codec in ENCODINGS:
        try:
            return data.decode(codec), ("gbk" if codec == "gb18030" else "utf-8")
        except UnicodeDecodeError:
            continue
    raise SourceReadError(f"{source}: text is neither UTF-8 nor GBK; save it as UTF-8 and retry")


def read_text(path: str | Path, encoding: str | None = None) -> tuple[str, str]:
    """Read a whole text file in UTF-8 or GBK (or the ``encoding`` forced, see
    :func:`decode`); return (text, encoding)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SourceReadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceReadError(f"{path}: is a folder, expected a file") from None
    except OSError as exc:
        raise SourceReadError(f"{path}: cannot be read ({exc.strerror})") from None
    if not data.strip():
        raise EmptyInputError(f"{path}: file is empty")
    return decode(data, str(path), encoding)


def read_csv(path: str | Path, encoding: str | None = None) -> pd.DataFrame:
    """Read a CSV file into a DataFrame of strings, detecting UTF-8 or GBK (or in the
    ``encoding`` forced, one of :data:`READ_ENCODINGS`).

    Column names are stripped of surrounding blanks; empty cells become ``None``. The
    encoding found is kept in ``frame.attrs["encoding"]`` and the 1-based file line of
    each row in ``frame.attrs["lines"]``.

    Raises:
        SourceReadError: missing, unreadable or undecodable file.
        EmptyInputError: no header, or a header and no rows.
    """
    text, encoding = read_text(path, encoding)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise EmptyInputError(f"{path}: file is empty") from None
    except csv.Error as exc:
        raise SourceReadError(f"{path}: not a valid CSV file ({exc})") from None
    header = _header(path, header, "first line")
    rows, lines = [], []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise SourceReadError(
                    f"{path}: line {reader.line_num} has {len(row)} fields, the header has "
                    f"{len(header)}; is the file truncated or a field's quotes unbalanced?"
                )
            rows.append([cell.strip() or None for cell in row])
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise SourceReadError(f"{path}: line {reader.line_num}: {exc}") from None
    if not rows:
        raise EmptyInputError(f"{path}: header only, no records")
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame.attrs["encoding"] = encoding
    frame.attrs["lines"] = lines
    return frame


def _header(path: str | Path, names: list[Any], where: str) -> list[str]:
    """Column names stripped of blanks; refuses none and duplicates."""
    header = ["" if h is None else str(h).strip() for h in names]
    if not any(header):
        raise EmptyInputError(f"{path}: {where} holds no column names")
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise SourceReadError(f"{path}: duplicate column names {dup}")
    return header


def _cell_text(value: Any) -> str | None:
    """A spreadsheet cell as the text a CSV would hold (None where blank)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else repr(value).removesuffix(".0")
    text = str(value).strip()
    return text or None


def read_xlsx(path: str | Path) -> pd.DataFrame:
    """Read the first sheet of an Excel workbook (.xlsx) like :func:`read_csv`.

    The first row holds the column names; blank rows are skipped; numbers and dates are
    kept as the text a CSV export would hold. ``frame.attrs["lines"]`` gives each record's
    spreadsheet row number.

    Raises:
        SourceReadError: missing, unreadable, corrupt or not an .xlsx workbook.
        EmptyInputError: no sheet, no header, or a header and no rows.
    """
    import zipfile

    try:
        from openpyxl import load_workbook
    except ImportError:  # a dependency of geobase; missing only in a broken install
        raise SourceReadError(
            f"{path}: reading Excel workbooks needs openpyxl (pip install 'openpyxl>=3.1')"
        ) from None

    path = Path(path)
    if not path.is_file():
        raise SourceReadError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise EmptyInputError(f"{path}: file is empty")
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError) as exc:
        raise SourceReadError(
            f"{path}: cannot be read as an Excel .xlsx workbook ({exc}); is it truncated, "
            "or an old .xls (save it as .xlsx)?"
        ) from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise EmptyInputError(f"{path}: the workbook has no sheet")
        rows_iter = sheet.iter_rows(values_only=True)
        header_row = next(rows_iter, None)
        if header_row is None:
            raise EmptyInputError(f"{path}: the first sheet is empty")
        header = _header(path, list(header_row), "the first row")
        width = len(header)
        while width and not header[width - 1]:
            width -= 1  # trailing blank header cells are formatting, not columns
        header = header[:width]
        if not all(header):
            raise SourceReadError(f"{path}: a column in the first row has no name")
        rows, lines = [], []
        for number, row in enumerate(rows_iter, start=2):
            cells = [_cell_text(v) for v in row]
            if not any(cells):
                continue
            if any(c is not None for c in cells[width:]):
                raise SourceReadError(
                    f"{path}: row {number} has values beyond the {width} named columns"
                )
            cells = (cells + [None] * width)[:width]
            rows.append(cells)
            lines.append(number)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        raise SourceReadError(f"{path}: damaged Excel workbook ({exc})") from None
    finally:
        book.close()
    if not rows:
        raise EmptyInputError(f"{path}: header only, no records")
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame.attrs["encoding"] = None
    frame.attrs["lines"] = lines
    return frame


# The one policy for every CSV geobase writes. Files get UTF-8 with a BOM by default: Excel
# on a Chinese Windows reads a BOM-less file as GBK and shows mojibake. A stream (stdout, a
# pipe) gets plain UTF-8 by default: a BOM there lands in the first column name of whatever
# script reads it. GBK is strict: a character GBK lacks is refused, never written as '?'.
WRITE_ENCODINGS = ("utf-8-sig", "utf-8", "gbk")
FILE_ENCODING = "utf-8-sig"
STREAM_ENCODING = "utf-8"


def csv_text(frame: pd.DataFrame) -> str:
    """A DataFrame as CSV text: header and rows, ``\\n`` line ends, blanks for missing."""
    out = io.StringIO()
    frame.to_csv(out, index=False, lineterminator="\n")
    return out.getvalue()


def encode_csv(frame: pd.DataFrame, encoding: str, target: str = "output") -> bytes:
    """A DataFrame as CSV bytes; a character the encoding lacks is refused by name.

    Raises:
        UnencodableText: a value holds a character ``encoding`` cannot write; the message
            names the row, the column and the value.
        InvalidOption: ``encoding`` is not one of :data:`WRITE_ENCODINGS`.
    """
    if encoding not in WRITE_ENCODINGS:
        raise InvalidOption(f"unknown CSV encoding {encoding!r}: expected {WRITE_ENCODINGS}")
    text = csv_text(frame)
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        where, value = "the header", next((str(c) for c in frame.columns if char in str(c)), "")
        if not value:
            for number, row in enumerate(frame.itertuples(index=False), start=1):
                cells = [(c, str(v)) for c, v in zip(frame.columns, row, strict=True)]
                hit = next(((c, v) for c, v in cells if char in v), None)
                if hit is not None:
                    where, value = f"row {number}, column {hit[0]!r}", hit[1]
                    break
        raise UnencodableText(
            f"{target}: {where}: value {value!r} holds {char!r} (U+{ord(char):04X}), which "
            f"{encoding.upper()} cannot encode; write the file with --encoding utf-8-sig"
        ) from None


def write_csv(frame: pd.DataFrame, path: str | Path | TextIO, encoding: str | None = None) -> None:
    """Write a DataFrame as CSV under the one policy for every CSV geobase writes.

    Args:
        frame: The table.
        path: A file path, or an open text stream (stdout).
        encoding: ``utf-8-sig``, ``utf-8`` or ``gbk``; None picks :data:`FILE_ENCODING`
            for a file and :data:`STREAM_ENCODING` for a stream.

    A file is written under a temporary name and renamed on success
    (:func:`geobase.paths.atomic_output`): a failure, an unencodable value included,
    leaves no file.

    Raises:
        UnencodableText: a value holds a character the encoding cannot write.
    """
    if not isinstance(path, str | Path):
        chosen = encoding or STREAM_ENCODING
        name = getattr(path, "name", None)
        data = encode_csv(frame, chosen, name if isinstance(name, str) else "stdout")
        binary = getattr(path, "buffer", None)
        if chosen == "utf-8" or binary is None:
            bom = "\ufeff" if chosen == "utf-8-sig" else ""
            path.write(bom + data.decode(chosen))
        else:
            path.flush()
            binary.write(data)
            binary.flush()
        return
    chosen = encoding or FILE_ENCODING
    data = encode_csv(frame, chosen, str(path))
    from geobase.paths import atomic_output

    with atomic_output(path) as tmp:
        Path(tmp).write_bytes(data)
