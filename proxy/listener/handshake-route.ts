// Where a connection goes once its ClientHello has been read: spliced to a passthrough backend,
// terminated by the TLS server of its host's profile, or refused with an alert. Pure.
import type { PassthroughRouteConfig, ProxyConfig } from "../config/types.ts";
import { TlsAlert, type TlsAlertDescription } from "./client-hello.ts";
import { buildHostTable, type HostTable } from "./sni.ts";
import type { TlsSnapshot } from "./tls-snapshot.ts";

/** The decision for one ClientHello. */
export type HandshakeRoute =
  | {
      readonly kind: "passthrough";
      readonly route: PassthroughRouteConfig;
      readonly serverName: string;
    }
  | { readonly kind: "terminate"; readonly profileKey: string }
  | { readonly kind: "reject"; readonly alert: TlsAlertDescription };

type Destination =
  | { readonly kind: "passthrough"; readonly route: PassthroughRouteConfig }
  | { readonly kind: "tls" };

/** Routes ClientHellos for one config. */
export interface HandshakeRouter {
  /** Number of passthrough routes: when zero (and one profile), the listener need not read hellos. */
  readonly passthroughRoutes: number;
  /** The route for a server name (as sent), given the certificate snapshot in force. */
  route(serverName: string | undefined, snapshot: TlsSnapshot): HandshakeRoute;
}

const TLS: Destination = Object.freeze({ kind: "tls" });

/**
 * Builds the router of a config. Passthrough hosts and TLS virtual hosts share one precedence: an
 * exact name beats a wildcard, whichever kind each is; for the very same pattern in both (a config
 * the compiler reports as a conflict) passthrough wins, since serving a certificate the backend
 * owner did not choose is the worse mistake.
 */
export function buildHandshakeRouter(
  config: Pick<ProxyConfig, "passthrough" | "virtualHosts">,
): HandshakeRouter {
  const entries: [string, Destination][] = [];
  for (const route of config.passthrough)
    entries.push([route.host, { kind: "passthrough", route }]);
  for (const vhost of config.virtualHosts)
    if (vhost.tls && vhost.host !== "*") entries.push([vhost.host, TLS]);
  const table: HostTable<Destination> = buildHostTable(entries);
  return {
    passthroughRoutes: config.passthrough.length,
    route(serverName, snapshot) {
      const destination = serverName === undefined ? undefined : table.lookup(serverName);
      if (destination?.kind === "passthrough" && serverName !== undefined) {
        return { kind: "passthrough", route: destination.route, serverName };
      }
      const selection = snapshot.select(serverName);
      if (selection) return { kind: "terminate", profileKey: selection.profileKey };
      // RFC 6066: unrecognized_name for a name we do not serve; without a name there is nothing
      // to be unrecognised, and OpenSSL would have said handshake_failure.
      return {
        kind: "reject",
        alert: serverName === undefined ? TlsAlert.HandshakeFailure : TlsAlert.UnrecognizedName,
      };
    },
  };
}

/** The router before any config: no passthrough; everything goes by the snapshot. */
export const EMPTY_HANDSHAKE_ROUTER: HandshakeRouter = buildHandshakeRouter({
  passthrough: [],
  virtualHosts: [],
});
