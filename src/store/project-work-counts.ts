import type { Db } from "./db.js";

/** Unfinished work per project, read from the counter that triggers on work_items keep. */
export interface ProjectWorkCounts {
  /** The project's work items held, queued or running: one primary-key read. */
  unfinished(projectId: string): number;
}

export function createProjectWorkCounts(db: Db): ProjectWorkCounts {
  // Kept by the triggers of migration 0009 in the same statement as each change to work_items,
  // so it is exact within any transaction that reads it.
  const read = db.$client.prepare(
    "SELECT unfinished FROM project_work_counts WHERE project_id = ?",
  );
  return {
    unfinished(projectId) {
      const row = read.get(projectId) as { unfinished: number } | undefined;
      return row?.unfinished ?? 0;
    },
  };
}
