import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { Image } from "./image.js";
import { Repositories } from "./repositories.js";
import { Repository } from "./repository.js";
import { href, parseRoute } from "./route.js";
import "./style.css";

function App() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  const route = parseRoute(hash);
  useEffect(() => {
    document.title = route.page === "repositories" ? "lading" : `${route.name} · lading`;
  }, [hash]);
  return (
    <>
      <header class="bar">
        <a class="brand" href={href.repositories()}>
          lading
        </a>
      </header>
      {route.page === "repositories" ? <Repositories q={route.q} p={route.p} /> : route.page === "repository" ? <Repository name={route.name} sort={route.sort} order={route.order} p={route.p} /> : <Image name={route.name} reference={route.reference} />}
    </>
  );
}

render(<App />, document.getElementById("app")!);
