/**
 * Uploads `jsonl` as a batch input file to a running server and creates a 24 h batch of it, the
 * way a client does over HTTP (for tests whose server is a child process).
 */
export async function createBatchOverHttp(
  url: string,
  jsonl: string,
  options: { filename: string; endpoint: string },
): Promise<{ inputFileId: string; batchId: string }> {
  const form = new FormData();
  form.append("purpose", "batch");
  form.append("file", new Blob([jsonl]), options.filename);
  const input = (await (await fetch(`${url}/v1/files`, { method: "POST", body: form })).json()) as {
    id: string;
  };
  const created = (await (
    await fetch(`${url}/v1/batches`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        input_file_id: input.id,
        endpoint: options.endpoint,
        completion_window: "24h",
      }),
    })
  ).json()) as { id: string };
  return { inputFileId: input.id, batchId: created.id };
}
