// Protocol upgrades (RFC 9110 §7.8). The proxy forwards plain HTTP only, for now: WebSocket and other
// upgrades are answered 501 by the caller, so a client learns at once instead of hanging. An h2c
// upgrade is different: a server may ignore an Upgrade offer and answer in HTTP/1.1, and a client
// offering h2c always accepts that, so such a request is forwarded with the offer stripped.

/** What a request's Upgrade header asks for. */
export type UpgradeKind = "none" | "h2c" | "other";

/**
 * Classifies the Upgrade header of a request (`req.rawHeaders`). Any protocol other than h2c alone, in
 * any case, is "other". Never throws.
 */
export function classifyUpgrade(rawHeaders: readonly string[]): UpgradeKind {
  let kind: UpgradeKind = "none";
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] ?? "";
    if (name.length !== 7 || name.toLowerCase() !== "upgrade") continue;
    for (const offer of (rawHeaders[i + 1] ?? "").split(",")) {
      const protocol = offer.trim().toLowerCase();
      if (protocol === "") continue;
      if (protocol !== "h2c") return "other";
      kind = "h2c";
    }
  }
  return kind;
}
