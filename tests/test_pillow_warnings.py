"""Pillow's warnings on malformed files (issue 27: six TIFF cases printed one before the error line)
stay inside the decoder: a user sees only the one-line error, on the command line and in the web app.
The files are the fuzzers' own (tests/fuzz/generators.py): a TIFF cut to its magic and one truncated."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pytest
from conftest import make_photo
from fuzz.generators import encode
from PIL import Image

from brushwork.cli import main
from brushwork.errors import ImageError
from brushwork.images import decode_image


def _malformed_tiffs() -> dict[str, bytes]:
    good = encode(48, 32, "RGB", "TIFF", 3)
    return {"magic_only": good[:8], "truncated": good[:20]}


def _pillow_warns(data: bytes) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
        except Exception:  # noqa: BLE001, S110 - only the warnings matter here
            pass
    return [str(w.message) for w in caught]


@pytest.mark.parametrize("case", sorted(_malformed_tiffs()))
def test_a_malformed_tiff_is_one_line_and_no_warning(case, tmp_path: Path, capsys):
    data = _malformed_tiffs()[case]
    assert _pillow_warns(data), "Pillow itself warns on this file (else the test proves nothing)"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageError):
            decode_image(data, "bad.tif")
        bad, painting = tmp_path / "bad.tif", tmp_path / "painting.png"
        bad.write_bytes(data)
        make_photo(32, 32).save(painting)
        code = main(["stylize", str(bad), str(painting), "-o", str(tmp_path / "x.png"), "--weights", "random",
                     "-q"])
    assert code == 2
    assert [str(w.message) for w in caught] == []
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("brushwork: error:") and "bad.tif" in err[0], err


def test_the_web_upload_check_does_not_warn_either():
    from fastapi import HTTPException

    from brushwork.web.uploads import sniff

    for data in _malformed_tiffs().values():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(HTTPException):
                sniff(data, "photo", 10**8)
        assert [str(w.message) for w in caught] == []
