/** Repository names and tags, by the distribution-spec grammar. */
const nameComponent = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const nameRe = new RegExp(`^${nameComponent}(?:/${nameComponent})*$`);
const tagRe = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** Clients cap host + "/" + name at 255 characters; names alone are capped the same as registry:2. */
export const maxNameLength = 255;

export function isValidName(name: string): boolean {
  return name.length <= maxNameLength && nameRe.test(name);
}

export function isValidTag(tag: string): boolean {
  return tagRe.test(tag);
}
