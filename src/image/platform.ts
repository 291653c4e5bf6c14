import type { Platform } from "./types.js";
import { ImageError } from "./types.js";

export function formatPlatform(p: Pick<Platform, "os" | "architecture" | "variant">): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

/** `linux/arm64/v8` → a platform; the variant is optional. */
export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, ...rest] = text.split("/");
  if (!os || !architecture || rest.length > 0) throw new ImageError(`invalid platform ${JSON.stringify(text)} (want os/arch[/variant])`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** Whether `have` satisfies `want`: a wanted variant must match, an unspecified one matches any. */
export function platformMatches(have: Platform | undefined, want: Platform): boolean {
  if (!have) return false;
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  return want.variant === undefined || have.variant === want.variant;
}

/** Index entries that are not runnable images (buildkit attestations are `unknown/unknown`). */
export function isRunnablePlatform(p: Platform | undefined): p is Platform {
  return p !== undefined && p.os !== "unknown" && p.architecture !== "unknown";
}

export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x" };
  return { os: "linux", architecture: arch[process.arch] ?? process.arch };
}
