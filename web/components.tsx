import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api.js";
import { shortDigest } from "./format.js";

/** Loads with `load` whenever `key` changes; the view shows the latest answer, or what went wrong. */
export function useLoad<T>(key: string, load: () => Promise<T>): { data: T | undefined; error: ApiError | Error | undefined; loading: boolean } {
  const [state, setState] = useState<{ key: string; data?: T; error?: Error }>({ key: "" });
  useEffect(() => {
    let current = true;
    load().then(
      (data) => current && setState({ key, data }),
      (error: Error) => current && setState({ key, error }),
    );
    return () => {
      current = false;
    };
  }, [key]);
  return { data: state.data, error: state.error, loading: state.key !== key };
}

export function Failure({ error }: { error: Error }) {
  return (
    <p class="failure" role="alert">
      {error.message}
    </p>
  );
}

export function Pager({ page, perPage, total, href }: { page: number; perPage: number; total: number; href: (page: number) => string }) {
  const pages = Math.max(1, Math.ceil(total / perPage));
  if (pages === 1) return null;
  return (
    <nav class="pager" aria-label="pages">
      {page > 1 ? (
        <a href={href(page - 1)} rel="prev">
          ← previous
        </a>
      ) : (
        <span aria-hidden="true">← previous</span>
      )}
      <span class="pager-at">
        page {page} of {pages}
      </span>
      {page < pages ? (
        <a href={href(page + 1)} rel="next">
          next →
        </a>
      ) : (
        <span aria-hidden="true">next →</span>
      )}
    </nav>
  );
}

export function CopyLine({ label, text }: { label: string; text: string }) {
  const [copied, setCopied] = useState(false);
  const copy = () => {
    void navigator.clipboard?.writeText(text).then(() => {
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    });
  };
  return (
    <div class="copy-line">
      <span class="copy-label">{label}</span>
      <code>{text}</code>
      <button type="button" onClick={copy} aria-label={`copy the ${label} command`}>
        {copied ? "copied" : "copy"}
      </button>
    </div>
  );
}

/** A digest shortened as docker shows image ids, the whole one on hover. */
export function Digest({ digest }: { digest: string }) {
  return <code title={digest}>{shortDigest(digest)}</code>;
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

/**
 * Asks before something that cannot be undone: a modal dialog (Escape or Cancel closes it, focus
 * stays inside), whose confirm button says what it does.
 */
export function Confirm({ question, action, onConfirm, onClose }: { question: string; action: string; onConfirm: () => Promise<void>; onClose: () => void }) {
  const [error, setError] = useState<Error | undefined>();
  const [busy, setBusy] = useState(false);
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    ref.current?.showModal();
  }, []);
  const confirm = () => {
    setBusy(true);
    onConfirm().then(onClose, (err: Error) => {
      setBusy(false);
      setError(err);
    });
  };
  return (
    <dialog ref={ref} class="confirm" onClose={onClose} aria-labelledby="confirm-question">
      <p id="confirm-question">{question}</p>
      {error ? <Failure error={error} /> : null}
      <div class="actions">
        <button type="button" onClick={() => ref.current?.close()} autoFocus>
          Cancel
        </button>
        <button type="button" class="danger" onClick={confirm} disabled={busy}>
          {action}
        </button>
      </div>
    </dialog>
  );
}
