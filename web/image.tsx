import { useState } from "preact/hooks";
import type { ImageAnswer, ReferrerNode } from "../src/ui/types.js";
import { api } from "./api.js";
import { Confirm, CopyLine, Digest, Failure, Section, useLoad } from "./components.js";
import { bytes, mediaTypeName, shortDigest } from "./format.js";
import { href } from "./route.js";

export function Image({ name, reference }: { name: string; reference: string }) {
  const { data, error, loading } = useLoad(`${name}\n${reference}`, () => api.image(name, reference));
  return (
    <main>
      <nav class="crumbs" aria-label="breadcrumbs">
        <a href={href.repositories()}>Repositories</a> / <a href={href.repository(name)}>{name}</a> / <span>{reference.startsWith("sha256:") ? shortDigest(reference) : reference}</span>
      </nav>
      <h1>
        {name}
        <span class="ref">{reference.startsWith("sha256:") ? `@${shortDigest(reference)}` : `:${reference}`}</span>
      </h1>
      {error ? <Failure error={error} /> : null}
      {data ? <ImageDetails image={data} reference={reference} /> : loading && !error ? <p class="loading">Loading…</p> : null}
    </main>
  );
}

function ImageDetails({ image, reference }: { image: ImageAnswer; reference: string }) {
  const [confirming, setConfirming] = useState(false);
  const host = location.host;
  const ref = reference.startsWith("sha256:") ? `${host}/${image.repository}@${image.digest}` : `${host}/${image.repository}:${reference}`;
  const config = image.config;
  return (
    <>
      <dl class="facts">
        <dt>Digest</dt>
        <dd>
          <code>{image.digest}</code>
        </dd>
        <dt>Type</dt>
        <dd>{mediaTypeName(image.mediaType)}</dd>
        {image.artifactType ? (
          <>
            <dt>Artifact type</dt>
            <dd>{image.artifactType}</dd>
          </>
        ) : null}
        <dt>Size</dt>
        <dd>{bytes(image.size)}</dd>
        <dt>Tags</dt>
        <dd>{image.tags.length === 0 ? "none" : image.tags.map((t) => <a href={href.image(image.repository, t)} class="tag" key={t}>{t}</a>)}</dd>
      </dl>
      {image.canDelete ? (
        <p>
          <button type="button" class="danger" onClick={() => setConfirming(true)}>
            Delete this manifest
          </button>
        </p>
      ) : null}
      {confirming ? (
        <Confirm
          question={`Delete manifest ${shortDigest(image.digest)} from ${image.repository}${image.tags.length > 0 ? `, and its ${image.tags.length === 1 ? "tag" : "tags"} ${image.tags.join(", ")}` : ""}? This cannot be undone.`}
          action="Delete manifest"
          onConfirm={() => api.deleteManifest(image.repository, image.digest).then(() => location.replace(href.repository(image.repository)))}
          onClose={() => setConfirming(false)}
        />
      ) : null}
      <Section title="Pull">
        <CopyLine label="docker" text={`docker pull ${ref}`} />
        <CopyLine label="podman" text={`podman pull ${ref}`} />
        <CopyLine label="skopeo" text={`skopeo copy docker://${ref} oci:${image.repository.split("/").pop()}`} />
        <CopyLine label="lading" text={`lading inspect ${ref}`} />
      </Section>
      {image.manifests.length > 0 ? (
        <Section title="Platforms">
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Platform</th>
                  <th scope="col">Digest</th>
                  <th scope="col">Type</th>
                  <th scope="col" class="num">
                    Manifest size
                  </th>
                </tr>
              </thead>
              <tbody>
                {image.manifests.map((m) => (
                  <tr key={m.digest}>
                    <td>
                      <a href={href.image(image.repository, m.digest)}>{m.platform ?? m.artifactType ?? "—"}</a>
                    </td>
                    <td>
                      <Digest digest={m.digest} />
                    </td>
                    <td>{mediaTypeName(m.mediaType)}</td>
                    <td class="num">{bytes(m.size)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </Section>
      ) : null}
      {config ? (
        <Section title="Config">
          <dl class="facts">
            <dt>Platform</dt>
            <dd>{config.platform ?? "—"}</dd>
            {config.created ? (
              <>
                <dt>Created</dt>
                <dd>{config.created}</dd>
              </>
            ) : null}
            <dt>Entrypoint</dt>
            <dd>{config.entrypoint ? <code>{JSON.stringify(config.entrypoint)}</code> : "—"}</dd>
            <dt>Cmd</dt>
            <dd>{config.cmd ? <code>{JSON.stringify(config.cmd)}</code> : "—"}</dd>
            <dt>User</dt>
            <dd>{config.user ?? "—"}</dd>
            <dt>Working dir</dt>
            <dd>{config.workingDir ?? "—"}</dd>
            <dt>Exposed ports</dt>
            <dd>{config.exposedPorts.join(", ") || "—"}</dd>
            {config.volumes.length > 0 ? (
              <>
                <dt>Volumes</dt>
                <dd>{config.volumes.join(", ")}</dd>
              </>
            ) : null}
            <dt>Env</dt>
            <dd>
              {config.env.length === 0 ? (
                "—"
              ) : (
                <ul class="plain">
                  {config.env.map((e) => (
                    <li key={e}>
                      <code>{e}</code>
                    </li>
                  ))}
                </ul>
              )}
            </dd>
            <dt>Labels</dt>
            <dd>
              {Object.keys(config.labels).length === 0 ? (
                "—"
              ) : (
                <ul class="plain">
                  {Object.entries(config.labels).map(([k, v]) => (
                    <li key={k}>
                      <code>
                        {k}={v}
                      </code>
                    </li>
                  ))}
                </ul>
              )}
            </dd>
          </dl>
        </Section>
      ) : null}
      {image.layers.length > 0 ? (
        <Section title="Layers">
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col" class="num">
                    #
                  </th>
                  <th scope="col">Digest</th>
                  <th scope="col">Type</th>
                  <th scope="col" class="num">
                    Size
                  </th>
                </tr>
              </thead>
              <tbody>
                {image.layers.map((l, i) => (
                  <tr key={`${i}`}>
                    <td class="num">{i}</td>
                    <td>
                      <Digest digest={l.digest} />
                    </td>
                    <td>{l.mediaType}</td>
                    <td class="num">{bytes(l.size)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </Section>
      ) : null}
      {image.history.length > 0 ? (
        <Section title="History">
          <ol class="history">
            {image.history.map((h, i) => (
              <li key={`${i}`} class={h.emptyLayer ? "empty" : ""}>
                <code>{h.createdBy || h.comment || "(no command recorded)"}</code>
                {h.emptyLayer ? <span class="note"> no layer</span> : null}
              </li>
            ))}
          </ol>
        </Section>
      ) : null}
      <Section title="Referrers">
        {image.referrers.length === 0 ? <p class="count">Nothing refers to this manifest (no signatures, SBOMs or attestations).</p> : <Referrers repository={image.repository} nodes={image.referrers} />}
      </Section>
    </>
  );
}

function Referrers({ repository, nodes }: { repository: string; nodes: ReferrerNode[] }) {
  return (
    <ul class="tree">
      {nodes.map((n) => (
        <li key={n.digest}>
          <a href={href.image(repository, n.digest)}>{n.artifactType ?? mediaTypeName(n.mediaType)}</a> <Digest digest={n.digest} /> <span class="note">{bytes(n.size)}</span>
          {n.referrers.length > 0 ? <Referrers repository={repository} nodes={n.referrers} /> : null}
        </li>
      ))}
    </ul>
  );
}
