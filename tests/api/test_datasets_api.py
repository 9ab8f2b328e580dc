"""Datasets through the API: upload, list with filter and cursor pages, one, versions, schema; another
organization's ids are 404."""

from __future__ import annotations

from tests.api.conftest import client, make_key

CSV = b"date,region,revenue\n2024-01-01,West,10\n2024-01-02,East,12\n2024-01-03,West,9\n"


def _upload(c, name, data=CSV):
    r = c.post("/datasets", files={"file": ("orders.csv", data, "text/csv")}, data={"name": name})
    assert r.status_code in (200, 201), r.text
    return r.json()["version"]


def test_upload_list_versions_schema(api, org_a):
    with client(api, make_key(org_a)) as c:
        v1 = _upload(c, "sales")
        v2 = _upload(c, "sales", CSV + b"2024-01-04,East,11\n")
        for i in range(3):
            _upload(c, f"other-{i}", CSV + f"2024-02-0{i + 1},West,{i}\n".encode())
        dup = c.post("/datasets", files={"file": ("orders.csv", CSV, "text/csv")}, data={"name": "sales"})
        assert dup.status_code == 200 and dup.json()["duplicate"] is True

        ds = c.get(f"/datasets/{v1['dataset_id']}").json()
        assert ds["versions"] == 2 and ds["latest_version"] == 2 and ds["row_count"] == 4
        versions = c.get(f"/datasets/{v1['dataset_id']}/versions").json()["items"]
        assert [v["version"] for v in versions] == [2, 1] and versions[0]["id"] == v2["id"]
        schema = c.get(f"/datasets/{v1['dataset_id']}/schema").json()
        assert [col["name"] for col in schema["columns"]] == ["date", "region", "revenue"]
        assert schema["version"] == 2
        assert c.get(f"/datasets/{v1['dataset_id']}/schema", params={"version": 1}).json()["version_id"] == v1["id"]

        seen, cursor = [], None
        while True:
            page = c.get("/datasets", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
            seen += [d["id"] for d in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == 4 and seen == sorted(seen, reverse=True)
        assert [d["name"] for d in c.get("/datasets", params={"name": "OTHER"}).json()["items"]] == \
            ["other-2", "other-1", "other-0"]


def test_other_organizations_dataset_ids_are_404(api, org_a, org_b):
    with client(api, make_key(org_a)) as a:
        v = _upload(a, "secret-sales")
    with client(api, make_key(org_b)) as b:
        for path in (f"/datasets/{v['dataset_id']}", f"/datasets/{v['dataset_id']}/versions",
                     f"/datasets/{v['dataset_id']}/schema"):
            r = b.get(path)
            assert r.status_code == 404, path
            assert "secret" not in r.text
        assert b.get("/datasets").json()["items"] == []
