import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { SessionView } from "../src/ui/types.js";
import { api } from "./api.js";
import { Image } from "./image.js";
import { Repositories } from "./repositories.js";
import { Repository } from "./repository.js";
import { href, parseRoute } from "./route.js";
import { SignIn } from "./sign-in.js";
import { Storage } from "./storage.js";
import "./style.css";

function App() {
  const [hash, setHash] = useState(location.hash);
  const [session, setSession] = useState<SessionView | undefined>();
  // Every view is loaded again after a sign-in or out: what one sees depends on who one is.
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener("hashchange", changed);
    void api.session().then(setSession, () => undefined);
    return () => removeEventListener("hashchange", changed);
  }, []);
  const route = parseRoute(hash);
  useEffect(() => {
    document.title = "name" in route ? `${route.name} · lading` : "lading";
  }, [hash]);
  const signedIn = (next: SessionView) => {
    setSession(next);
    setGeneration((g) => g + 1);
  };
  const signOut = () => {
    void api
      .signOut()
      .then(() => api.session())
      .then((next) => {
        signedIn(next);
        location.replace(href.repositories());
      });
  };
  return (
    <>
      <header class="bar">
        <a class="brand" href={href.repositories()}>
          lading
        </a>
        <span class="who">
          {session?.admin ? <a href={href.storage()}>Storage</a> : null}
          {!session?.signIn ? null : session.user === null ? (
            <a href={href.signIn()}>Sign in</a>
          ) : (
            <>
              <span>{session.user}</span>
              <button type="button" onClick={signOut}>
                Sign out
              </button>
            </>
          )}
        </span>
      </header>
      <div key={generation}>
        {route.page === "sign-in" ? (
          <SignIn onSignedIn={signedIn} />
        ) : route.page === "storage" ? (
          <Storage />
        ) : route.page === "repositories" ? (
          <Repositories q={route.q} p={route.p} />
        ) : route.page === "repository" ? (
          <Repository name={route.name} sort={route.sort} order={route.order} p={route.p} />
        ) : (
          <Image name={route.name} reference={route.reference} />
        )}
      </div>
    </>
  );
}

render(<App />, document.getElementById("app")!);
