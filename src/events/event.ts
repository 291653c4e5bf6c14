/**
 * Registry events in registry:2's format (its notifications/event.go): what existing receivers of
 * its webhooks parse. One event per action on one object: a manifest or blob pushed or pulled, a
 * blob mounted from another repository, a manifest, blob or tag deleted.
 */
export const eventsMediaType = "application/vnd.docker.distribution.events.v1+json";
/** What registry:2 gives every blob it reports, whatever the manifest says of it. */
export const blobMediaType = "application/octet-stream";

export type EventAction = "push" | "pull" | "mount" | "delete";

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface RegistryEvent {
  id: string;
  timestamp: string;
  action: EventAction;
  target: {
    mediaType?: string;
    digest?: string;
    size?: number;
    /** The same as size: registry:2 keeps it for receivers written before size existed. */
    length?: number;
    repository: string;
    fromRepository?: string;
    /** The object's own URL, by digest. */
    url?: string;
    tag?: string;
    /** With notifications.events.includereferences: what a pushed or pulled manifest names. */
    references?: Descriptor[];
  };
  request: { id: string; addr?: string; host?: string; method: string; useragent: string };
  /** Who asked: empty for the anonymous. */
  actor: { name?: string };
  /** Which registry process: its host and port, and an id of its own. */
  source: { addr?: string; instanceID?: string };
}

/** What an event is about, which registry:2's JSON does not always say (a delete names a digest only). */
export type EventObject = "manifest" | "blob" | "tag";

/** An event as queued for delivery. */
export interface QueuedEvent {
  object: EventObject;
  event: RegistryEvent;
}
