import { lookup as dnsLookup } from "node:dns";
import { BlockList, isIP } from "node:net";
import { ApiError } from "../lib/api-error.js";

/**
 * Where ferry may send webhooks and callbacks. A URL a client gives must not turn ferry into a
 * proxy into the network it runs in (SSRF): names and addresses that are loopback, private,
 * link-local (the cloud metadata service, 169.254.169.254), carrier-grade NAT, multicast or
 * reserved are refused, unless the operator allows their network in the config. The check runs
 * when the URL is given (a 400 naming the field) and again on every connection, on the address
 * actually dialled, so a name that resolves elsewhere later (DNS rebinding) is refused too.
 */
export interface OutboundPolicy {
  /** Networks (CIDR, e.g. "127.0.0.1/32", "10.1.0.0/16") allowed although private. */
  readonly allowNetworks: readonly string[];
  /** Resolves a host name to its addresses; dns.lookup by default (tests inject a resolver). */
  readonly lookup?: (hostname: string) => Promise<readonly string[]>;
}

const FORBIDDEN_V4 = [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const;

const FORBIDDEN_V6 = [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b::", 96],
  ["100::", 64],
  ["2001:db8::", 32],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
] as const;

const forbidden = new BlockList();
for (const [address, prefix] of FORBIDDEN_V4) {
  forbidden.addSubnet(address, prefix, "ipv4");
}
for (const [address, prefix] of FORBIDDEN_V6) {
  forbidden.addSubnet(address, prefix, "ipv6");
}

/** Allow-lists already made, by their networks: every delivery attempt asks for one. */
const allowLists = new Map<string, BlockList>();

/** The allow-list a policy's networks make; throws naming a network that is not a CIDR. */
export function allowListOf(networks: readonly string[]): BlockList {
  const key = networks.join(",");
  let list = allowLists.get(key);
  if (list === undefined) {
    list = buildAllowList(networks);
    if (allowLists.size >= 64) {
      allowLists.clear();
    }
    allowLists.set(key, list);
  }
  return list;
}

function buildAllowList(networks: readonly string[]): BlockList {
  const list = new BlockList();
  for (const network of networks) {
    const [address, prefixText] = network.split("/");
    const family = isIP(address ?? "");
    const prefix = prefixText === undefined ? (family === 6 ? 128 : 32) : Number(prefixText);
    if (
      family === 0 ||
      !Number.isInteger(prefix) ||
      prefix < 0 ||
      prefix > (family === 6 ? 128 : 32)
    ) {
      throw new Error(`'${network}' is not a network in CIDR form (e.g. 127.0.0.1/32)`);
    }
    list.addSubnet(address as string, prefix, family === 6 ? "ipv6" : "ipv4");
  }
  return list;
}

/** The IPv4 address an IPv4-mapped IPv6 address (::ffff:10.0.0.1) stands for, else itself. */
function unmapped(address: string): string {
  const match = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return match === null ? address : (match[1] as string);
}

/** Whether ferry may connect to `address` (an IP literal) under the allow-list. */
export function isAddressAllowed(address: string, allow: BlockList): boolean {
  const plain = unmapped(address);
  const family = isIP(plain) === 6 ? "ipv6" : "ipv4";
  return !forbidden.check(plain, family) || allow.check(plain, family);
}

function defaultLookup(hostname: string): Promise<readonly string[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true }, (err, addresses) => {
      if (err) {
        reject(err);
      } else {
        resolve(addresses.map((entry) => entry.address));
      }
    });
  });
}

/** The bare host of a URL: `[::1]` -> `::1`. */
function hostOf(url: URL): string {
  return url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
}

/**
 * Checks a destination URL a client or operator gave: http or https, no credentials in it, and
 * a host whose every address is allowed. Throws a 400 naming `param` otherwise; returns the URL.
 */
export async function checkOutboundUrl(
  raw: string,
  policy: OutboundPolicy,
  param: string,
): Promise<URL> {
  const refuse = (why: string) =>
    ApiError.invalid(param, `Invalid '${param}': ${why}`, "invalid_url");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse("it is not an absolute URL.");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw refuse("only http and https URLs can receive deliveries.");
  }
  if (url.username !== "" || url.password !== "") {
    throw refuse(
      param === "callback_url"
        ? "credentials in the URL are not accepted; use callback_auth."
        : "credentials in the URL are not accepted.",
    );
  }
  const allow = allowListOf(policy.allowNetworks);
  const host = hostOf(url);
  let addresses: readonly string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else {
    try {
      addresses = await (policy.lookup ?? defaultLookup)(host);
    } catch {
      throw refuse(`the host '${host}' does not resolve.`);
    }
    if (addresses.length === 0) {
      throw refuse(`the host '${host}' does not resolve.`);
    }
  }
  const blocked = addresses.find((address) => !isAddressAllowed(address, allow));
  if (blocked !== undefined) {
    throw refuse(
      `'${host}' is a loopback, private, link-local or reserved address (${blocked}); ferry does not send there unless the operator allows that network (outbound.allow_networks).`,
    );
  }
  return url;
}

/**
 * A `lookup` for net/tls connections (undici's `connect.lookup`) that refuses a resolved address
 * the policy does not allow: the check on the address actually dialled. IP-literal hosts skip
 * lookup, so callers also check those with `isAddressAllowed` before they send.
 */
export function guardedLookup(policy: OutboundPolicy) {
  const allow = allowListOf(policy.allowNetworks);
  const resolve = policy.lookup ?? defaultLookup;
  return (
    hostname: string,
    options: { all?: boolean; family?: number | string },
    callback: (
      err: NodeJS.ErrnoException | null,
      address: string | { address: string; family: number }[],
      family?: number,
    ) => void,
  ): void => {
    const host = hostname.startsWith("[") ? hostname.slice(1, -1) : hostname;
    const found: Promise<readonly string[]> =
      isIP(host) !== 0 ? Promise.resolve([host]) : resolve(host);
    found.then(
      (addresses) => {
        const allowed = addresses.filter((address) => isAddressAllowed(address, allow));
        if (allowed.length === 0) {
          const err: NodeJS.ErrnoException = new Error(
            `refused to connect to '${host}': its address is loopback, private, link-local or reserved`,
          );
          err.code = "EADDRNOTALLOWED";
          callback(err, []);
          return;
        }
        if (options.all === true) {
          callback(
            null,
            allowed.map((address) => ({ address, family: isIP(address) })),
          );
        } else {
          const first = allowed[0] as string;
          callback(null, first, isIP(first));
        }
      },
      (err: NodeJS.ErrnoException) => callback(err, []),
    );
  };
}
