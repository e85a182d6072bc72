import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai7";
import { afterEach, describe, expect, it } from "vitest";
import { secretHint } from "../../src/webhooks/signature.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { spawnFerry, waitForExit } from "../helpers/spawn-ferry.js";

/** `ferry webhooks …` run as a user runs it: a child process over a temp data dir. */

const LOOPBACK_ALLOWED = { outbound: { allow_networks: ["127.0.0.1/32"] } };
const CLI_TIMEOUT_MS = 60_000;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

interface World {
  readonly dataDir: string;
  /** Runs `ferry webhooks <args>` with FERRY_DATA_DIR and (unless told not to) FERRY_CONFIG. */
  run(args: string[], env?: Record<string, string>): Promise<CliResult>;
}

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function createWorld(fileConfig: object | null = LOOPBACK_ALLOWED): World {
  const dataDir = mkdtempSync(path.join(tmpdir(), "ferry-webhooks-cli-"));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const baseEnv: Record<string, string> = { FERRY_DATA_DIR: dataDir };
  if (fileConfig !== null) {
    const configPath = path.join(dataDir, "ferry.config.json");
    writeFileSync(configPath, JSON.stringify(fileConfig));
    baseEnv.FERRY_CONFIG = configPath;
  }
  return {
    dataDir,
    async run(args, env = {}) {
      // Asynchronous, so a server in this process keeps answering while the CLI runs.
      const child = spawnFerry(["webhooks", ...args], { ...baseEnv, ...env });
      let stdout = "";
      let stderr = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr?.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const { code } = await waitForExit(child);
      // 'exit' can come before the pipes are drained.
      await Promise.all(
        [child.stdout, child.stderr].map(
          (stream) =>
            new Promise<void>((resolve) => {
              if (stream === null || stream.readableEnded) {
                resolve();
              } else {
                stream.once("end", () => resolve());
              }
            }),
        ),
      );
      return { code, stdout, stderr };
    },
  };
}

/** The endpoint id and the secret an `add` or `rotate` printed, checking the secret appears once. */
function printedSecret(result: CliResult): string {
  const secrets = `${result.stdout}${result.stderr}`.match(/whsec_[A-Za-z0-9+/=]+/g) ?? [];
  expect(secrets, result.stdout).toHaveLength(1);
  expect(result.stdout).toContain("will not show it again");
  return secrets[0] as string;
}

function printedId(result: CliResult): string {
  const id = /whe_[0-9a-f]+/.exec(result.stdout)?.[0];
  expect(id, result.stdout).toBeDefined();
  return id as string;
}

async function listJson(world: World, project: string) {
  const listed = await world.run(["list", "--project", project, "--json"]);
  expect(listed.code, listed.stderr).toBe(0);
  return JSON.parse(listed.stdout) as {
    object: "list";
    has_more: boolean;
    data: Record<string, unknown>[];
  };
}

describe("ferry webhooks add|list|rotate|remove", () => {
  it("prints the secret once, lists only its hint, rotates it and removes the endpoint", {
    timeout: CLI_TIMEOUT_MS * 4,
  }, async () => {
    const world = createWorld();
    const added = await world.run([
      "add",
      "--project",
      "proj_a",
      "--name",
      "orders",
      "--url",
      "http://127.0.0.1:9/hook",
      "--events",
      "response.completed, batch.completed,response.completed",
    ]);
    expect(added.code, added.stderr).toBe(0);
    const id = printedId(added);
    const secret = printedSecret(added);
    const older = await world.run([
      "add",
      "--project",
      "proj_a",
      "--name",
      "older-looking",
      "--url",
      "http://127.0.0.1:9/other",
      "--events",
      "batch.failed",
      "--json",
    ]);
    expect(older.code, older.stderr).toBe(0);
    const newest = JSON.parse(older.stdout) as { id: string; signing_secret: string };
    expect(newest.signing_secret).toMatch(/^whsec_/);

    const table = await world.run(["list", "--project", "proj_a"]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).not.toContain(secret);
    expect(table.stdout).not.toContain(newest.signing_secret);
    const rows = table.stdout.trimEnd().split("\n");
    expect(rows[0]).toMatch(/^ID\s+NAME\s+URL\s+EVENTS\s+SECRET\s+STATUS$/);
    // Newest first.
    expect(rows[1]).toContain(newest.id);
    expect(rows[2]?.split(/\s{2,}/)).toEqual([
      id,
      "orders",
      "http://127.0.0.1:9/hook",
      "response.completed,batch.completed",
      secretHint(secret),
      "enabled",
    ]);
    const listed = await listJson(world, "proj_a");
    expect(listed.data.map((endpoint) => endpoint.id)).toEqual([newest.id, id]);
    expect(listed.data[1]).toMatchObject({ signing_secret_hint: secretHint(secret) });
    expect(listed.data[1]).not.toHaveProperty("signing_secret");
    expect((await listJson(world, "proj_b")).data).toEqual([]);

    const rotated = await world.run(["rotate", id, "--project", "proj_a"]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const rotatedSecret = printedSecret(rotated);
    expect(rotatedSecret).not.toBe(secret);
    const afterRotate = await listJson(world, "proj_a");
    expect(afterRotate.data[1]).toMatchObject({ signing_secret_hint: secretHint(rotatedSecret) });

    const otherProject = await world.run(["remove", id, "--project", "proj_b"]);
    expect(otherProject.code).toBe(1);
    expect(otherProject.stderr).toContain(`No webhook endpoint found with id '${id}'.`);
    for (const removeId of [id, newest.id]) {
      const removed = await world.run(["remove", removeId, "--project", "proj_a"]);
      expect(removed.code, removed.stderr).toBe(0);
      expect(removed.stdout).toContain(`Removed ${removeId}`);
    }
    expect((await listJson(world, "proj_a")).data).toEqual([]);
    const empty = await world.run(["list", "--project", "proj_a"]);
    expect(empty.stdout).toContain("No webhook endpoints in project 'proj_a'");

    const again = await world.run(["remove", id, "--project", "proj_a"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`ferry webhooks: No webhook endpoint found with id '${id}'.\n`);
    const rotateMissing = await world.run(["rotate", "whe_missing", "--project", "proj_a"]);
    expect(rotateMissing.code).toBe(1);
    expect(rotateMissing.stderr).toContain("No webhook endpoint found with id 'whe_missing'.");
  });

  it("exits 2 naming the flag for bad arguments, and writes nothing", {
    timeout: CLI_TIMEOUT_MS * 4,
  }, async () => {
    const world = createWorld();
    const add = (url: string, events: string, extra: string[] = []) =>
      world.run([
        "add",
        "--project",
        "proj_a",
        "--name",
        "n",
        "--url",
        url,
        "--events",
        events,
        ...extra,
      ]);

    const badEvent = await add("http://127.0.0.1:9/hook", "response.completed,fine_tuning.job");
    expect(badEvent.code).toBe(2);
    expect(badEvent.stderr).toContain(
      "ferry webhooks: --events: ferry does not send 'fine_tuning.job' events; it sends: response.completed",
    );
    const noEvents = await add("http://127.0.0.1:9/hook", " , ");
    expect(noEvents.code).toBe(2);
    expect(noEvents.stderr).toContain("--events: give at least one event type");

    const metadata = await add("http://169.254.169.254/latest/meta-data", "response.completed");
    expect(metadata.code).toBe(2);
    expect(metadata.stderr).toContain("--url: Invalid 'url': '169.254.169.254'");
    expect(metadata.stderr).toContain("outbound.allow_networks");
    const notHttp = await add("file:///etc/passwd", "response.completed");
    expect(notHttp.code).toBe(2);
    expect(notHttp.stderr).toContain("--url: Invalid 'url': only http and https URLs");

    const badProject = await world.run([
      "add",
      "--project",
      "no spaces",
      "--name",
      "n",
      "--url",
      "http://127.0.0.1:9/hook",
      "--events",
      "response.completed",
    ]);
    expect(badProject.code).toBe(2);
    expect(badProject.stderr).toContain("--project: 'no spaces' is not a valid project");

    const missingFlag = await world.run(["add", "--project", "proj_a", "--name", "n"]);
    expect(missingFlag.code).toBe(2);
    expect(missingFlag.stderr).toContain("required option '--url <url>' not specified");

    expect((await listJson(world, "proj_a")).data).toEqual([]);

    // Loopback is allowed above only because the config file's outbound.allow_networks says so.
    const strict = createWorld(null);
    const loopback = await strict.run([
      "add",
      "--project",
      "proj_a",
      "--name",
      "n",
      "--url",
      "http://127.0.0.1:9/hook",
      "--events",
      "response.completed",
    ]);
    expect(loopback.code).toBe(2);
    expect(loopback.stderr).toContain("--url: Invalid 'url': '127.0.0.1' is a loopback");
  });

  it("refuses to seal with a key that does not open the secrets already stored", {
    timeout: CLI_TIMEOUT_MS * 3,
  }, async () => {
    const world = createWorld();
    const serverKey = { FERRY_SECRETS_KEY: randomBytes(32).toString("hex") };
    const add = (name: string, env: Record<string, string>) =>
      world.run(
        [
          "add",
          "--project",
          "proj_a",
          "--name",
          name,
          "--url",
          "http://127.0.0.1:9/hook",
          "--events",
          "response.completed",
        ],
        env,
      );
    expect((await add("first", serverKey)).code).toBe(0);

    const withoutKey = await add("second", {});
    expect(withoutKey.code).toBe(1);
    expect(withoutKey.stderr).toContain("does not open the webhook secrets already stored");
    expect(withoutKey.stderr).toContain("FERRY_SECRETS_KEY");
    expect(withoutKey.stdout).not.toContain("whsec_");
    expect((await listJson(world, "proj_a")).data.map((endpoint) => endpoint.name)).toEqual([
      "first",
    ]);
    expect((await add("second", serverKey)).code).toBe(0);
  });

  it("keeps `webhooks deliveries` and `webhooks attempts` registered", {
    timeout: CLI_TIMEOUT_MS * 2,
  }, async () => {
    const world = createWorld();
    const deliveries = await world.run(["deliveries", "--project", "proj_a", "--json"]);
    expect(deliveries.code, deliveries.stderr).toBe(0);
    expect(JSON.parse(deliveries.stdout)).toMatchObject({
      object: "list",
      data: [],
      has_more: false,
    });
    const attempts = await world.run(["attempts", "wh_nope", "--project", "proj_a"]);
    expect(attempts.code).toBe(1);
    expect(attempts.stderr).toContain("No webhook delivery found with id 'wh_nope'");
  });
});

describe("ferry webhooks with a server on the same data dir", () => {
  it("serves the CLI's endpoint over HTTP, signs with the secret the CLI printed, and leaves config endpoints to the config file", {
    timeout: CLI_TIMEOUT_MS * 5,
  }, async () => {
    const receiver = await startReceiver();
    cleanups.push(receiver.close);
    const world = createWorld();
    const added = await world.run([
      "add",
      "--project",
      "default",
      "--name",
      "from-cli",
      "--url",
      receiver.url,
      "--events",
      "response.completed",
    ]);
    expect(added.code, added.stderr).toBe(0);
    const id = printedId(added);
    const secret = printedSecret(added);

    const server: TestServer = await startTestServer({
      dataDir: world.dataDir,
      config: {
        outbound: { allowNetworks: ["127.0.0.1/32"] },
        webhooks: {
          endpoints: [
            {
              projectId: "default",
              name: "from-config",
              url: receiver.url,
              eventTypes: ["batch.completed"],
              secret: "whsec_Y29uZmlnLWZpbGUtc2VjcmV0LTMyYnl0ZXMhIQ==",
            },
          ],
        },
      },
    });
    cleanups.push(() => server.close());
    const sdk = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-test", maxRetries: 0 });

    const listed = [];
    for await (const endpoint of sdk.webhooks.list()) {
      listed.push(endpoint);
    }
    const fromConfig = listed.find((endpoint) => endpoint.name === "from-config");
    expect(listed.map((endpoint) => endpoint.name).sort()).toEqual(["from-cli", "from-config"]);
    expect(listed.find((endpoint) => endpoint.id === id)).toMatchObject({
      name: "from-cli",
      url: receiver.url,
      event_types: ["response.completed"],
      signing_secret_hint: secretHint(secret),
    });

    const tested = await sdk.webhooks.test(id, { event_type: "response.completed" });
    expect(tested).toMatchObject({ webhook_endpoint_id: id, status_code: 200 });
    const [delivery] = receiver.received.splice(0);
    expect(delivery).toBeDefined();
    const event = await sdk.webhooks.unwrap(
      delivery?.body ?? "",
      delivery?.headers as Record<string, string>,
      secret,
    );
    expect(event.type).toBe("response.completed");

    // A rotation by the CLI is what the server signs with next; the old secret signs too.
    const rotated = await world.run(["rotate", id, "--project", "default", "--keep-old"]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const rotatedSecret = printedSecret(rotated);
    await sdk.webhooks.test(id, { event_type: "response.completed" });
    const [afterRotate] = receiver.received.splice(0);
    for (const signer of [rotatedSecret, secret]) {
      await expect(
        sdk.webhooks.unwrap(
          afterRotate?.body ?? "",
          afterRotate?.headers as Record<string, string>,
          signer,
        ),
      ).resolves.toMatchObject({ type: "response.completed" });
    }

    const fromConfigId = fromConfig?.id ?? "";
    for (const args of [
      ["remove", fromConfigId, "--project", "default"],
      ["rotate", fromConfigId, "--project", "default"],
    ]) {
      const refused = await world.run(args);
      expect(refused.code, refused.stdout).toBe(1);
      expect(refused.stderr).toContain(
        `ferry webhooks: The webhook endpoint '${fromConfigId}' comes from the server's config file (webhooks.endpoints)`,
      );
    }
    expect((await sdk.webhooks.retrieve(fromConfigId)).name).toBe("from-config");

    const removed = await world.run(["remove", id, "--project", "default"]);
    expect(removed.code, removed.stderr).toBe(0);
    await expect(sdk.webhooks.retrieve(id)).rejects.toMatchObject({ status: 404 });
  });
});

interface Received {
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
}

/** A receiver on 127.0.0.1 that answers 200 and keeps every request it read. */
async function startReceiver() {
  const received: Received[] = [];
  const server: Server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) {
      chunks.push(chunk as Buffer);
    }
    received.push({ headers: request.headers, body: Buffer.concat(chunks).toString("utf8") });
    response.writeHead(200).end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    received,
    url: `http://127.0.0.1:${port}/hook`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
