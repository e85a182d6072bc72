import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root, found from this file so the bench works from any working directory. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/** Where each bench writes `<name>.json`; `.bench/` is gitignored. */
export const RESULTS_DIR = path.join(REPO_ROOT, ".bench", "results");

/** Where `--cpu-prof` runs leave their `.cpuprofile` files, one folder per bench. */
export const PROFILES_DIR = path.join(REPO_ROOT, ".bench", "profiles");
