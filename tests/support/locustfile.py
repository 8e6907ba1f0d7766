"""Load on `brushwork serve` with locust: users who paint photos the way the page does.

Each user submits a job, follows it by polling ``GET /api/jobs/{id}`` until it ends, fetches the
result, and now and then looks at the catalogue or the health check. Jobs mix (weights in
``PainterUser.tasks``): fast jobs on the bundled sample, fast jobs with an uploaded photo, and
small Gatys jobs. The only acceptable answers are 200, 202 and 429 (queue full: the user waits
``Retry-After`` and goes on); anything else is a failure in locust's table. Every accepted job is
remembered in ``JOBS``, so the runner (tests/support/loadrun.py) can check after the run that none
was lost: each one must reach done, failed or cancelled, and never vanish (404).

By hand, with locust's web page:  locust -f tests/support/locustfile.py --host http://127.0.0.1:8000
"""

from __future__ import annotations

import io
import random
import time

from locust import HttpUser, between, task
from PIL import Image

#: Every job a server accepted: id -> {"kind", "status", "vanished"} (filled by the users).
JOBS: dict[str, dict] = {}
TERMINAL = ("done", "failed", "cancelled")
OK_STATUSES = (200, 202, 429)
#: Jobs as the users send them. Gatys is small so that a few finish during a short run.
FORMS = {
    "fast": {"sample": "canyon", "style": "starry_night", "method": "arbitrary", "size": "128"},
    "fast-upload": {"style": "great_wave", "method": "arbitrary", "size": "128"},
    "gatys": {"sample": "canyon", "style": "starry_night", "method": "gatys", "size": "64",
              "iterations": "10"},
}
POLL_SECONDS = 0.5
#: A user gives up following a job after this long (the runner still checks it at the end).
FOLLOW_SECONDS = 120.0


def upload_photo(seed: int) -> bytes:
    """A small JPEG 'photo' (noise over a gradient), different per user."""
    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize((160, 120)).convert("RGB")
    noise = Image.effect_noise((160, 120), 20 + rng.random() * 30).convert("RGB")
    buffer = io.BytesIO()
    Image.blend(image, noise, 0.3).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


class PainterUser(HttpUser):
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.photo = upload_photo(id(self))

    def _expect(self, response) -> bool:
        """Mark anything but 200/202/429 a failure; True when the answer is usable (200/202)."""
        if response.status_code not in OK_STATUSES:
            response.failure(f"status {response.status_code}: {response.text[:120]}")
            return False
        response.success()
        return response.status_code != 429

    def _submit(self, kind: str) -> None:
        files = {"photo": ("photo.jpg", self.photo, "image/jpeg")} if kind == "fast-upload" else None
        with self.client.post("/api/jobs", data=FORMS[kind], files=files, name=f"POST /api/jobs [{kind}]",
                              catch_response=True) as response:
            if not self._expect(response):
                if response.status_code == 429:
                    time.sleep(min(5.0, float(response.headers.get("Retry-After", "1"))))
                return
            job = response.json()
        JOBS[job["id"]] = {"kind": kind, "status": job["status"], "vanished": False}
        self._follow(job)

    def _follow(self, job: dict) -> None:
        record = JOBS[job["id"]]
        deadline = time.monotonic() + FOLLOW_SECONDS
        while job["status"] not in TERMINAL and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            with self.client.get(f"/api/jobs/{job['id']}", name="GET /api/jobs/{id}",
                                 catch_response=True) as response:
                if response.status_code == 404:
                    record["vanished"] = True
                if not self._expect(response):
                    return
                job = response.json()
            record["status"] = job["status"]
        if job["status"] == "done":
            with self.client.get(f"/api/jobs/{job['id']}/result", name="GET /api/jobs/{id}/result",
                                 catch_response=True) as response:
                if self._expect(response) and not response.content.startswith(b"\x89PNG"):
                    response.failure("the result is not a PNG")

    @task(4)
    def fast_sample(self) -> None:
        self._submit("fast")

    @task(2)
    def fast_upload(self) -> None:
        self._submit("fast-upload")

    @task(1)
    def gatys(self) -> None:
        self._submit("gatys")

    @task(1)
    def browse(self) -> None:
        for path in ("/api/health", "/api/styles", "/api/methods"):
            with self.client.get(path, name=f"GET {path}", catch_response=True) as response:
                self._expect(response)
