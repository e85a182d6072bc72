import type { Db } from "./db.js";

/** Unfinished work per project, counted on the claim index. */
export interface ProjectWorkCounts {
  /**
   * The project's work items held, queued or running on these backends and lanes. An index range
   * count over work_items_claim_by_project (status, backend, lane, project_id, ...): it reads the
   * project's unfinished rows' index entries and nothing else, so callers should not run it per
   * request when a project may have tens of thousands (see services/queue-cap.ts).
   */
  countUnfinished(
    projectId: string,
    scope: { readonly backends: readonly string[]; readonly lanes: readonly number[] },
  ): number;
}

export function createProjectWorkCounts(db: Db): ProjectWorkCounts {
  // The IN lists on the index's leading columns let SQLite seek to each (status, backend, lane,
  // project) range in turn instead of walking every unfinished row of every project.
  const count = db.$client.prepare(
    `SELECT COUNT(*) AS n FROM work_items
     WHERE status IN ('held', 'queued', 'running')
       AND backend IN (SELECT value FROM json_each(@backends))
       AND lane IN (SELECT value FROM json_each(@lanes))
       AND project_id = @projectId`,
  );
  return {
    countUnfinished(projectId, scope) {
      const row = count.get({
        projectId,
        backends: JSON.stringify(scope.backends),
        lanes: JSON.stringify(scope.lanes),
      }) as { n: number };
      return row.n;
    },
  };
}
