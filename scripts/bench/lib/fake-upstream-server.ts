import http from "node:http";

/**
 * A fake OpenAI-compatible upstream that answers `POST /v1/chat/completions` at once with one
 * fixed chat completion, whatever was asked: the floor against which ferry's overhead on a real
 * backend is measured. Plain node:http, no framework, so its own cost is as small as it gets.
 * Run as a child process by lib/fake-upstream.ts with PORT and HOST set.
 */

const COMPLETION = JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-4o-mini",
  choices: [
    {
      index: 0,
      message: { role: "assistant", content: "The capital of France is Paris." },
      finish_reason: "stop",
    },
  ],
  usage: { prompt_tokens: 14, completion_tokens: 8, total_tokens: 22 },
});

const server = http.createServer((req, res) => {
  // Read the body to its end before answering, as a real server would.
  req.resume();
  req.once("end", () => {
    if (req.method === "GET" && req.url === "/health") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"status":"ok"}');
      return;
    }
    if (req.method === "POST" && req.url === "/v1/chat/completions") {
      res.writeHead(200, {
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(COMPLETION)),
      });
      res.end(COMPLETION);
      return;
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end('{"error":{"message":"not found","type":"invalid_request_error"}}');
  });
});
// Longer than any client's idle timeout, so a kept-alive connection is never closed under it.
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), process.env.HOST ?? "127.0.0.1");

process.once("SIGTERM", () => process.exit(0));
