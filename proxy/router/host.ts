// Request host normalisation, shared by HTTP routing (Host / :authority) and SNI lookups, so that a
// name is compared in one form everywhere: lower case, no port, no trailing dot.

/**
 * The comparable form of a Host header value or SNI name: lower-cased, port removed, one trailing dot
 * removed ("Example.COM.:8443" → "example.com"), and an IPv6 literal unbracketed ("[::1]:80" → "::1").
 * Returns "" for an empty or malformed value, which matches no named virtual host. It does not
 * validate the host's characters: the listener refuses malformed Host headers before routing, and an
 * odd name can only fail to match.
 */
export function normalizeHost(host: string): string {
  let name: string;
  if (host.startsWith("[")) {
    const close = host.indexOf("]");
    if (close === -1) return "";
    name = host.slice(1, close);
  } else {
    const colon = host.indexOf(":");
    name = colon === -1 ? host : host.slice(0, colon);
    if (name.endsWith(".")) name = name.slice(0, -1);
  }
  return name.toLowerCase();
}

/**
 * The wildcard name that could cover a normalised host: "*." + everything after the first label
 * ("a.example.com" → "*.example.com"). Undefined when the host has a single label or an empty first
 * label, which no wildcard covers ("*.example.com" covers exactly one label, never "example.com").
 */
export function wildcardFor(host: string): string | undefined {
  const dot = host.indexOf(".");
  if (dot <= 0 || dot === host.length - 1) return undefined;
  return `*${host.slice(dot)}`;
}
