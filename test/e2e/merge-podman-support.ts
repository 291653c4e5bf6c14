/** skopeo with everything private to the test's scratch directory (test/helpers/skopeo.ts), created once per scratch. */
import { Skopeo } from "../helpers/skopeo.js";
import type { Scratch } from "../helpers/scratch.js";

const clients = new WeakMap<Scratch, Promise<Skopeo>>();

export async function skopeoCopy(scratch: Scratch, src: string, dest: string): Promise<void> {
  let client = clients.get(scratch);
  if (!client) {
    client = Skopeo.create(scratch);
    clients.set(scratch, client);
  }
  await (await client).copy(src, dest, ["--quiet"]);
}
