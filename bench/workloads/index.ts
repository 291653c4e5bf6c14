/** Every workload, in the order a round runs them: on directories, then on the run's S3 gateway. */
import type { Workload } from "../scenarios.js";
import { authWorkload } from "./auth.js";
import { blobsWorkload } from "./blobs.js";
import { catalogWorkload } from "./catalog.js";
import { gcWorkload } from "./gc.js";
import { manifestsWorkload } from "./manifests.js";
import { mergeWorkload } from "./merge.js";
import { mirrorWorkload } from "./mirror.js";
import { mountsWorkload } from "./mounts.js";
import { s3BlobsWorkload, s3RedirectWorkload } from "./s3-blobs.js";
import { s3MemoryWorkload } from "./s3-memory.js";
import { s3ReplicasWorkload } from "./s3-replicas.js";
import { smallWorkload } from "./small.js";
import { tagsWorkload } from "./tags.js";
import { uiWorkload } from "./ui.js";

export const workloads: readonly Workload[] = [
  blobsWorkload("big"),
  blobsWorkload("huge"),
  smallWorkload("filesystem"),
  manifestsWorkload("filesystem"),
  tagsWorkload("filesystem"),
  catalogWorkload,
  mountsWorkload,
  mergeWorkload,
  gcWorkload,
  uiWorkload,
  mirrorWorkload(),
  authWorkload("anonymous"),
  authWorkload("basic"),
  authWorkload("bearer"),
  s3BlobsWorkload,
  s3RedirectWorkload,
  smallWorkload("s3"),
  manifestsWorkload("s3"),
  tagsWorkload("s3"),
  s3MemoryWorkload,
  s3ReplicasWorkload,
];
