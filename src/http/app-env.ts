/** The per-request variables every handler can read with `c.get(...)`. */
export interface AppEnv {
  Variables: {
    requestId: string;
    /** The tenant the request acts for; "default" while ferry runs without API keys. */
    projectId: string;
  };
}
