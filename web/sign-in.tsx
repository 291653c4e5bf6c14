import { useState } from "preact/hooks";
import type { SessionView } from "../src/ui/types.js";
import { api } from "./api.js";
import { Failure } from "./components.js";
import { href } from "./route.js";

export function SignIn({ onSignedIn }: { onSignedIn: (session: SessionView) => void }) {
  const [error, setError] = useState<Error | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.target as HTMLFormElement);
    setBusy(true);
    api.signIn(String(form.get("username") ?? ""), String(form.get("password") ?? "")).then(
      (session) => {
        onSignedIn(session);
        location.replace(href.repositories());
      },
      (err: Error) => {
        setBusy(false);
        setError(err);
      },
    );
  };
  return (
    <main>
      <h1>Sign in</h1>
      <form class="sign-in" onSubmit={submit}>
        <label for="username">User name</label>
        <input id="username" name="username" autoComplete="username" required autoFocus />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autoComplete="current-password" required />
        {error ? <Failure error={error} /> : null}
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}
