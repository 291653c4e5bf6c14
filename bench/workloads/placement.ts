/**
 * Where a workload's servers store: a fresh directory, or a fresh bucket of the run's S3 gateway.
 * The same workload on S3 is its own workload (`s3-<name>`) with its own scenarios (`s3.<id>`,
 * declared in ../scenarios-s3.ts), so that `--only s3` selects every S3 workload and their
 * figures and targets stand apart from the filesystem's.
 */
import { gatewayUnavailable } from "../gateway.js";
import type { Workload } from "../scenarios.js";

export type Placement = "filesystem" | "s3";

/** The workload's name, and on S3 what running there takes (blob GETs through the registry). */
export function placed(placement: Placement, name: string): Pick<Workload, "name" | "s3" | "unavailable"> {
  if (placement === "filesystem") return { name };
  return { name: `s3-${name}`, s3: { redirect: false }, unavailable: gatewayUnavailable };
}

/** A scenario id of the workload where it runs. */
export function scenarioId(placement: Placement, id: string): string {
  return placement === "filesystem" ? id : `s3.${id}`;
}
