import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { expectError, mt, pushImage, request, startTestServer, type TestServer } from "./support.js";

interface TagList {
  name: string;
  tags: string[];
}

/** Parses `Link: <url>; rel="next"` and returns the URL. */
function nextLink(link: string | undefined): string | undefined {
  if (link === undefined) return undefined;
  const match = /^<([^>]+)>;\s*rel="?next"?$/.exec(link.trim());
  assert.ok(match, `malformed Link header ${link}`);
  return match[1];
}

describe("tags list", () => {
  let server: TestServer;
  const repo = "tags/test";
  // ASCIIbetical (Go sort.Strings): digits, then upper case, then "_", then lower case.
  const tags = ["latest", "v1.0", "1.0", "B", "a", "_under", "v1.0-rc1", "Zed", "z", "9", "v10", "v2"];
  const sorted = [...tags].sort();
  before(async () => {
    server = await startTestServer();
    const image = await pushImage(server, repo, tags[0]!);
    const query = tags.slice(1).map((t) => `tag=${t}`).join("&");
    const reply = await request(server, "PUT", `/v2/${repo}/manifests/${image.digest}?${query}`, { body: image.body, headers: { "Content-Type": mt.ociManifest } });
    assert.equal(reply.status, 201);
  });
  after(() => server.close());

  const list = async (query = "", name = repo) => {
    const reply = await request(server, "GET", `/v2/${name}/tags/list${query}`);
    assert.equal(reply.status, 200, reply.text());
    assert.match(reply.header("content-type") ?? "", /^application\/json/);
    const body = reply.json<TagList>();
    assert.equal(body.name, name);
    return { body, link: reply.header("link") };
  };

  it("lists every tag in lexical order", async () => {
    const { body, link } = await list();
    assert.deepEqual(body.tags, sorted);
    assert.equal(link, undefined);
  });

  it("honours n with a Link to the next page, and following the Links yields every tag once", async () => {
    const first = await list("?n=5");
    assert.deepEqual(first.body.tags, sorted.slice(0, 5));
    assert.ok(first.link, "no Link header although more tags follow");
    const seen = [...first.body.tags];
    let next = nextLink(first.link);
    for (let guard = 0; next !== undefined && guard < 10; guard++) {
      assert.ok(next.startsWith(`/v2/${repo}/tags/list?`) || next.includes(`/v2/${repo}/tags/list?`), next);
      const page = await request(server, "GET", next);
      assert.equal(page.status, 200);
      const items = page.json<TagList>().tags;
      assert.ok(items.length <= 5 && items.length > 0);
      seen.push(...items);
      next = nextLink(page.header("link"));
    }
    assert.deepEqual(seen, sorted);
  });

  it("n=0 returns an empty list and no Link", async () => {
    const { body, link } = await list("?n=0");
    assert.deepEqual(body.tags, []);
    assert.equal(link, undefined);
  });

  it("returns every remaining tag when n exceeds them, without a Link", async () => {
    const { body, link } = await list(`?n=${tags.length}`);
    assert.deepEqual(body.tags, sorted);
    assert.equal(link, undefined);
    assert.equal((await list(`?n=1000`)).link, undefined);
  });

  it("last returns the tags after it (exclusive), with or without n", async () => {
    const last = sorted[4]!;
    assert.deepEqual((await list(`?last=${last}`)).body.tags, sorted.slice(5));
    assert.deepEqual((await list(`?n=2&last=${last}`)).body.tags, sorted.slice(5, 7));
    assert.deepEqual((await list(`?last=${encodeURIComponent("Y")}`)).body.tags, sorted.filter((t) => t > "Y"));
    assert.deepEqual((await list(`?last=zzzz`)).body.tags, []);
    assert.equal((await list(`?last=zzzz&n=3`)).link, undefined);
  });

  it("answers 404 NAME_UNKNOWN for a repository that does not exist", async () => {
    expectError(await request(server, "GET", `/v2/no/such/repo/tags/list`), 404, "NAME_UNKNOWN");
    expectError(await request(server, "GET", `/v2/no/such/repo/tags/list?n=1`), 404, "NAME_UNKNOWN");
  });

  it("lists an empty array once every tag of a repository is deleted", async () => {
    const image = await pushImage(server, "tags/emptied", "only");
    assert.equal((await request(server, "DELETE", `/v2/tags/emptied/manifests/only`)).status, 202);
    assert.deepEqual((await list("", "tags/emptied")).body.tags, []);
    assert.equal((await request(server, "GET", `/v2/tags/emptied/manifests/${image.digest}`)).status, 200);
  });

  it("answers the same page requests anew after a tag is added or deleted", async () => {
    const name = "tags/changing";
    const image = await pushImage(server, name, "b");
    const pages = async () => [(await list("", name)).body.tags, (await list("?n=1", name)).body.tags, (await list("?n=1&last=a", name)).body.tags];
    assert.deepEqual(await pages(), [["b"], ["b"], ["b"]]);
    const tagged = await request(server, "PUT", `/v2/${name}/manifests/a`, { body: image.body, headers: { "Content-Type": mt.ociManifest } });
    assert.equal(tagged.status, 201);
    assert.deepEqual(await pages(), [["a", "b"], ["a"], ["b"]]);
    assert.equal((await list("?n=1", name)).link, `</v2/${name}/tags/list?n=1&last=a>; rel="next"`);
    assert.equal((await request(server, "DELETE", `/v2/${name}/manifests/${image.digest}`)).status, 202);
    if (server.bucket === undefined) {
      assert.deepEqual(await pages(), [[], [], []]);
    } else {
      // S3 keeps no empty directories: with its only manifest gone the repository holds no
      // _manifests key, so it is no repository (nor in the catalog), as with registry:2's s3 driver.
      for (const query of ["", "?n=1", "?n=1&last=a"]) expectError(await request(server, "GET", `/v2/${name}/tags/list${query}`), 404, "NAME_UNKNOWN");
    }
  });

  it("answers 400, not 500, for a malformed n", async () => {
    for (const n of ["abc", "-1", "1.5", "99999999999999999999999"]) {
      const reply = await request(server, "GET", `/v2/${repo}/tags/list?n=${n}`);
      assert.ok(reply.status === 400 || reply.status === 200, `n=${n}: ${reply.status}`);
    }
  });
});
