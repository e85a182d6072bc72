import type { BackendConfig } from "../config.js";

/**
 * One line per configured backend, for the start-up log: which backend serves which models, and
 * where an upstream lives. Credentials never appear: a key is not part of the description, and a
 * user name or password inside a base URL is dropped.
 */
export function describeBackends(backends: readonly BackendConfig[] | null): string[] {
  if (backends === null) {
    return ["mock (all models)"];
  }
  return backends.map((backend) => {
    const where = backend.type !== "mock" ? ` at ${withoutCredentials(backend.baseUrl)}` : "";
    return `${backend.name}: ${backend.type}${where} (${describeModels(backend)})`;
  });
}

function describeModels(backend: BackendConfig): string {
  const names = backend.models.includes("*") ? ["all models"] : [...backend.models];
  for (const [alias, upstream] of Object.entries(backend.aliases)) {
    names.push(`${alias} -> ${upstream}`);
  }
  return names.join(", ");
}

function withoutCredentials(baseUrl: string): string {
  try {
    const url = new URL(baseUrl);
    url.username = "";
    url.password = "";
    return url.toString();
  } catch {
    return "(invalid URL)";
  }
}
