"""The logo on the admin settings page: upload (re-encoded, no metadata), refusals, removal."""

from __future__ import annotations

import io

from admin_kit import Site
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.test import TestResponse

from tests.reviewer.reviewer_kit import csrf, web_enrol
from tipbox.services.logo import MAX_LOGO_BYTES

SETTINGS = "/admin/settings"
UPLOAD = "/admin/settings/logo"


def image_bytes(size: tuple[int, int], fmt: str, **save: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=fmt, **save)
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Inc."  # Make
    exif[0x0131] = "secret-laptop"  # Software
    return image_bytes((1600, 800), "JPEG", exif=exif.tobytes())


def png_with_text() -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Jane Whistleblower")
    return image_bytes((300, 900), "PNG", pnginfo=info)


def upload(client: FlaskClient, data: bytes, *, with_token: bool = True) -> TestResponse:
    form: dict[str, object] = {"logo": (io.BytesIO(data), "logo.png")}
    if with_token:
        form = {"csrf_token": csrf(client, SETTINGS), **form}
    return client.post(UPLOAD, data=form, content_type="multipart/form-data")


def stored(site: Site) -> bytes | None:
    return site.services.instance.instance_settings.logo_png()


def _text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def test_a_jpeg_with_exif_is_stored_as_a_clean_capped_png(site: Site, client: FlaskClient) -> None:
    saved = upload(client, jpeg_with_exif())
    assert saved.status_code == 200
    assert "The logo is saved." in _text(saved)
    png = stored(site)
    assert png is not None
    assert b"SpyCam" not in png
    assert b"secret-laptop" not in png
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.size == (512, 256)  # capped, aspect kept
        assert not image.info.get("exif")
        assert not image.getexif()
    assert b"eXIf" not in png
    assert b"tEXt" not in png
    assert "change settings" in _text(client.get("/admin/audit"))


def test_a_png_with_text_chunks_loses_them(site: Site, client: FlaskClient) -> None:
    assert upload(client, png_with_text()).status_code == 200
    png = stored(site)
    assert png is not None
    assert b"Jane" not in png
    for chunk in (b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"iCCP"):
        assert chunk not in png
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (171, 512)


def test_each_refusal_says_why_on_the_settings_page_and_stores_nothing(
    site: Site, client: FlaskClient
) -> None:
    bomb = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(bomb, format="PNG")
    huge = image_bytes((16, 16), "PNG") + b"\0" * MAX_LOGO_BYTES
    for data, status, wording in (
        (b"not an image at all", 400, "must be a PNG or JPEG"),
        (image_bytes((40, 40), "GIF"), 400, "must be a PNG or JPEG"),
        (image_bytes((40, 40), "PNG")[:60], 400, "must be a PNG or JPEG"),
        (bomb.getvalue(), 400, "million pixels"),
        (huge, 413, "larger than 512 KB"),
        (b"", 400, "must be a PNG or JPEG"),
    ):
        refused = upload(client, data)
        assert refused.status_code == status, wording
        assert wording in _text(refused)
        assert "Instance settings" in _text(refused)  # the settings page, with its forms
        assert stored(site) is None


def test_a_body_far_over_the_cap_is_refused_before_it_is_read(client: FlaskClient) -> None:
    refused = upload(client, b"\0" * (20 * MAX_LOGO_BYTES))
    assert refused.status_code == 413


def test_no_csrf_token_no_logo(site: Site, client: FlaskClient) -> None:
    refused = upload(client, image_bytes((40, 40), "PNG"), with_token=False)
    assert refused.status_code == 400
    assert stored(site) is None


def test_only_an_admin_may_upload(site: Site, client: FlaskClient) -> None:
    _, enrolment = site.services.reviewers.create("ivy")
    other = site.client()
    ivy = web_enrol(site.clock, other, "ivy", enrolment.password, "ivy's long password!")
    site.log_in(other, ivy)
    logo = (io.BytesIO(image_bytes((9, 9), "PNG")), "a.png")
    form = {"csrf_token": csrf(other, "/"), "logo": logo}
    refused = other.post(UPLOAD, data=form, content_type="multipart/form-data")
    assert refused.status_code == 403
    assert stored(site) is None


def test_other_routes_still_refuse_file_parts(site: Site, client: FlaskClient) -> None:
    form = {"csrf_token": csrf(client, SETTINGS), "organisation": "The Daily",
            "logo": (io.BytesIO(image_bytes((9, 9), "PNG")), "a.png")}
    refused = client.post(SETTINGS, data=form, content_type="multipart/form-data")
    assert refused.status_code == 400


def test_an_admin_removes_the_logo(site: Site, client: FlaskClient) -> None:
    upload(client, image_bytes((64, 64), "PNG"))
    assert "Remove the logo" in _text(client.get(SETTINGS))
    removed = site.post(client, "/admin/settings/logo/remove", SETTINGS)
    assert "The logo is removed." in _text(removed)
    assert stored(site) is None
    assert not (site.services.instance.settings.data_dir / "logo.png").exists()
    assert "Remove the logo" not in _text(client.get(SETTINGS))
