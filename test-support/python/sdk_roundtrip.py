"""Drives the Python client generated from openapi/openapi.json (by
openapi-python-client) against a running API and worker, the way an SDK user
would: login, enqueue a diagnostic job, poll it to success, read an event
stream to its end, a cursor list over two pages, and problems read as typed
errors.

    python3 sdk_roundtrip.py SDK_PARENT PACKAGE BASE_URL EMAIL PASSWORD

SDK_PARENT is the directory holding the generated package PACKAGE.
Exits non-zero (with the reason) on the first failed check.
"""

import importlib
import json
import sys
import time

import httpx

sdk_parent, package, base_url, email, password = sys.argv[1:6]
sys.path.insert(0, sdk_parent)
sdk = importlib.import_module(package)
models = importlib.import_module(f"{package}.models")
auth_login = importlib.import_module(f"{package}.api.auth.auth_login")
diagnostics_jobs_create = importlib.import_module(
    f"{package}.api.diagnostics.diagnostics_jobs_create"
)
jobs_get = importlib.import_module(f"{package}.api.jobs.jobs_get")
jobs_events = importlib.import_module(f"{package}.api.jobs.jobs_events")
jobs_list = importlib.import_module(f"{package}.api.jobs.jobs_list")

TIMEOUT = httpx.Timeout(60.0)


def check(condition, what):
    if not condition:
        raise SystemExit(f"sdk round trip: {what}")


# 1. Login (a public operation), then an authenticated client. Undeclared
#    statuses raise (raise_on_unexpected_status).
public = sdk.Client(base_url=base_url, timeout=TIMEOUT, raise_on_unexpected_status=True)
tokens = auth_login.sync(
    client=public, body=models.LoginRequest(email=email, password=password)
)
check(isinstance(tokens, models.TokenPair), f"login answered {tokens!r}")
client = sdk.AuthenticatedClient(
    base_url=base_url,
    token=tokens.access_token,
    timeout=TIMEOUT,
    raise_on_unexpected_status=True,
)


def enqueue(**fields):
    r = diagnostics_jobs_create.sync_detailed(
        client=client, body=models.CreateDiagnosticJob(**fields)
    )
    check(r.status_code == 202, f"enqueue answered {r.status_code}: {r.content!r}")
    check(isinstance(r.parsed, models.JobView), f"enqueue parsed {r.parsed!r}")
    check(
        r.headers.get("location") == f"/api/v1/jobs/{r.parsed.id}",
        f"Location {r.headers.get('location')!r}",
    )
    return r.parsed


# 2. Enqueue and poll to success.
job = enqueue(behaviour=models.DiagnosticBehaviour.SUCCEED, label="sdk poll")
deadline = time.monotonic() + 60
while True:
    polled = jobs_get.sync(client=client, id=job.id)
    check(isinstance(polled, models.JobView), f"poll answered {polled!r}")
    if polled.status == models.JobStatus.SUCCEEDED:
        break
    check(
        polled.status in (models.JobStatus.QUEUED, models.JobStatus.RUNNING),
        f"job went {polled.status}",
    )
    check(time.monotonic() < deadline, "the job did not succeed within 60 s")
    time.sleep(0.2)


# 3. The event stream of a job that runs a while, read to its end: each event
#    carries one JobView (the spec's x-event-data).
def events(job_id):
    r = jobs_events.sync_detailed(client=client, id=job_id)
    check(r.status_code == 200, f"events answered {r.status_code}")
    check(isinstance(r.parsed, str), f"the stream parsed as {type(r.parsed)}")
    views = []
    for block in r.parsed.replace("\r\n", "\n").split("\n\n"):
        data = [l[5:].lstrip() for l in block.split("\n") if l.startswith("data:")]
        if data:
            views.append(models.JobView.from_dict(json.loads("\n".join(data))))
    return views


slow = enqueue(behaviour=models.DiagnosticBehaviour.SLEEP, sleep_ms=1500, label="sdk stream")
views = events(slow.id)
check(len(views) >= 2, f"{len(views)} events")
check(all(v.id == slow.id for v in views), "events of another job")
check(views[-1].status == models.JobStatus.SUCCEEDED, f"last event {views[-1].status}")
check(
    all(v.status != models.JobStatus.SUCCEEDED for v in views[:-1]),
    "the stream went on after the terminal event",
)
done = events(job.id)
check(
    [v.status for v in done] == [models.JobStatus.SUCCEEDED],
    f"a finished job's stream: {[v.status for v in done]}",
)

# 4. A cursor list over two pages.
seen, pages, cursor = [], 0, sdk.types.UNSET
while True:
    page = jobs_list.sync(client=client, limit=1, cursor=cursor)
    check(isinstance(page, models.PageJobView), f"list answered {page!r}")
    pages += 1
    seen += [j.id for j in page.items]
    if not isinstance(page.next_cursor, str):
        break
    cursor = page.next_cursor
    check(pages < 10, "the cursor never ends")
check(pages >= 2, f"{pages} page(s)")
check(sorted(seen) == sorted({job.id, slow.id}), f"listed {seen}")

# 5. Problems read as typed errors.
missing = jobs_get.sync(client=client, id="019aa000-0000-7000-8000-00000000dead")
check(isinstance(missing, models.Problem), f"a missing job answered {missing!r}")
check(missing.status == 404 and missing.code == models.ProblemCode.NOT_FOUND, repr(missing))
bad = jobs_list.sync(client=client, limit=0)
check(isinstance(bad, models.Problem), f"limit=0 answered {bad!r}")
check(bad.status == 400, repr(bad))
check(
    bad.code in (models.ProblemCode.VALIDATION_FAILED, models.ProblemCode.INVALID_PARAMETER),
    repr(bad),
)
check([e.pointer for e in bad.errors] == ["/limit"], repr(bad.errors))
anonymous = sdk.AuthenticatedClient(
    base_url=base_url, token="not-a-token", timeout=TIMEOUT, raise_on_unexpected_status=True
)
denied = jobs_get.sync(client=anonymous, id=job.id)
check(isinstance(denied, models.Problem), f"a bad token answered {denied!r}")
check(denied.code == models.ProblemCode.UNAUTHORIZED, repr(denied))

print(f"sdk round trip: ok ({len(views)} events, {pages} pages)")
