import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { pushImage, request, startTestServer, type TestServer } from "./support.js";

interface Catalog {
  repositories: string[];
}

function nextLink(link: string | undefined): string | undefined {
  if (link === undefined) return undefined;
  const match = /^<([^>]+)>;\s*rel="?next"?$/.exec(link.trim());
  assert.ok(match, `malformed Link header ${link}`);
  return match[1];
}

describe("_catalog", () => {
  let server: TestServer;
  const repos = ["zeta", "alpha/beta", "alpha", "alpha/beta/gamma", "a-b", "a_b", "a.b", "m/n"];
  const sorted = [...repos].sort();
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  const catalog = async (query = "") => {
    const reply = await request(server, "GET", `/v2/_catalog${query}`);
    assert.equal(reply.status, 200, reply.text());
    assert.match(reply.header("content-type") ?? "", /^application\/json/);
    return { repositories: reply.json<Catalog>().repositories, link: reply.header("link") };
  };

  it("is empty on a fresh registry", async () => {
    assert.deepEqual((await catalog()).repositories, []);
  });

  it("lists every repository holding a manifest, sorted", async () => {
    for (const repo of repos) await pushImage(server, repo, "latest");
    const { repositories, link } = await catalog();
    assert.deepEqual(repositories, sorted);
    assert.equal(link, undefined);
  });

  it("paginates with n and a Link to the next page", async () => {
    const first = await catalog("?n=3");
    assert.deepEqual(first.repositories, sorted.slice(0, 3));
    assert.ok(first.link, "no Link although more repositories follow");
    const seen = [...first.repositories];
    let next = nextLink(first.link);
    for (let guard = 0; next !== undefined && guard < 10; guard++) {
      assert.ok(next.includes("/v2/_catalog?"), next);
      const page = await request(server, "GET", next);
      assert.equal(page.status, 200);
      const items = page.json<Catalog>().repositories;
      assert.ok(items.length > 0 && items.length <= 3);
      seen.push(...items);
      next = nextLink(page.header("link"));
    }
    assert.deepEqual(seen, sorted);
  });

  it("honours last, and n=0 gives an empty list without a Link", async () => {
    assert.deepEqual((await catalog(`?last=${encodeURIComponent("alpha/beta")}`)).repositories, sorted.filter((r) => r > "alpha/beta"));
    assert.deepEqual((await catalog(`?n=2&last=alpha`)).repositories, sorted.filter((r) => r > "alpha").slice(0, 2));
    const zero = await catalog("?n=0");
    assert.deepEqual(zero.repositories, []);
    assert.equal(zero.link, undefined);
    const end = await catalog(`?n=${repos.length}`);
    assert.deepEqual(end.repositories, sorted);
    assert.equal(end.link, undefined);
  });

  it("answers 400, not 500, for a malformed n", async () => {
    for (const n of ["x", "-3"]) {
      const reply = await request(server, "GET", `/v2/_catalog?n=${n}`);
      assert.ok(reply.status === 400 || reply.status === 200, `n=${n}: ${reply.status}`);
    }
  });
});
