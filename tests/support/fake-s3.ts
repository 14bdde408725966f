import { execFile } from "node:child_process";
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { makeTempDir, removeTempDir } from "./temp-dir.js";

/** Options of {@link startFakeS3}. */
export interface FakeS3Options {
  /** Buckets that exist from the start. @defaultValue ["tapbot-backups"] */
  buckets?: string[];
  /** The region the server signs for and reports as the buckets' location. @defaultValue "us-east-1" */
  region?: string;
}

/** One stored object. */
export interface StoredObject {
  body: Buffer;
  etag: string;
  lastModified: Date;
}

/** A running {@link startFakeS3} server. */
export interface FakeS3 {
  /** `https://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** PEM file of the server's self-signed certificate: give it to clients as SSL_CERT_FILE. */
  readonly caFile: string;
  /** Every object of a bucket, by key. */
  objects(bucket: string): Map<string, StoredObject>;
  /** Requests refused so far, as `<status> <S3 error code>` (what a client was told). */
  readonly refusals: string[];
  stop(): Promise<void>;
}

const execFileAsync = promisify(execFile);
const MAX_BODY = 64 * 1024 * 1024;
const UNSIGNED = "UNSIGNED-PAYLOAD";
const CLOCK_SKEW_MS = 15 * 60_000;

/** An S3 error answer: the status and the code and message S3 itself sends. */
class S3Error extends Error {
  override name = "S3Error";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** RFC 3986 encoding, as SigV4 wants it (only A-Z a-z 0-9 - _ . ~ stay as they are). */
function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

function sha256Hex(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

function xmlEscape(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `AWS4-HMAC-SHA256 Credential=AK/20261130/us-east-1/s3/aws4_request, SignedHeaders=a;b, Signature=hex` */
function parseAuthorization(header: string) {
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/.exec(
      header.trim(),
    );
  if (match === null) {
    throw new S3Error(
      400,
      "AuthorizationHeaderMalformed",
      `the authorization header is malformed: ${header}`,
    );
  }
  const [, accessKeyId = "", date = "", region = "", signedHeaders = "", signature = ""] = match;
  return { accessKeyId, date, region, signedHeaders: signedHeaders.split(";"), signature };
}

/**
 * A strict S3-compatible server over HTTPS on loopback, for the backup drill: the operations restic uses
 * (bucket location, ListObjectsV2, PUT/GET/HEAD/DELETE of objects, ranged GETs), each request's SigV4 signature
 * verified against the one key pair it knows (a wrong key id gets 403 InvalidAccessKeyId, a wrong secret 403
 * SignatureDoesNotMatch, a body that does not match its signed sha256 400 XAmzContentSHA256Mismatch), and
 * everything else refused by name (501 NotImplemented). HTTPS because production endpoints are HTTPS, and
 * because over plain HTTP S3 clients switch to aws-chunked uploads, which this server does not decode.
 * s3rver (3.7.1) was tried first: it does not verify SigV4 signatures at all (any secret is accepted) and
 * stores aws-chunked bodies with their chunk headers, so it could not say "wrong credentials are refused".
 */
export async function startFakeS3(options: FakeS3Options = {}): Promise<FakeS3> {
  const region = options.region ?? "us-east-1";
  const accessKeyId = `TAPBOTTEST${randomBytes(5).toString("hex").toUpperCase()}`;
  const secretAccessKey = randomBytes(20).toString("base64");
  const buckets = new Map<string, Map<string, StoredObject>>(
    (options.buckets ?? ["tapbot-backups"]).map((name) => [name, new Map()]),
  );
  const refusals: string[] = [];

  const dir = await makeTempDir("fake-s3");
  const keyFile = join(dir, "key.pem");
  const caFile = join(dir, "cert.pem");
  await execFileAsync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    caFile,
    "-days",
    "2",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
  ]);

  function verify(req: IncomingMessage, url: URL, body: Buffer): void {
    const header = req.headers.authorization;
    if (header === undefined) throw new S3Error(403, "AccessDenied", "anonymous access is not allowed");
    const auth = parseAuthorization(header);
    if (auth.accessKeyId !== accessKeyId) {
      throw new S3Error(
        403,
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
      );
    }
    const isLocation = url.searchParams.has("location");
    if (auth.region !== region && !(isLocation && auth.region === "us-east-1")) {
      throw new S3Error(
        400,
        "AuthorizationHeaderMalformed",
        `the region '${auth.region}' is wrong; expecting '${region}'`,
      );
    }
    const amzDate = String(req.headers["x-amz-date"] ?? "");
    const when = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
    if (when === null || !amzDate.startsWith(auth.date)) {
      throw new S3Error(
        403,
        "AccessDenied",
        `x-amz-date is missing or does not match the credential's date: ${amzDate}`,
      );
    }
    const [, y, mo, d, h, mi, s] = when;
    const at = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
    if (Math.abs(Date.now() - at) > CLOCK_SKEW_MS) {
      throw new S3Error(
        403,
        "RequestTimeTooSkewed",
        "The difference between the request time and the current time is too large.",
      );
    }
    if (!auth.signedHeaders.includes("host") || !auth.signedHeaders.includes("x-amz-date")) {
      throw new S3Error(403, "AccessDenied", "host and x-amz-date must be signed");
    }
    const payloadHash = String(req.headers["x-amz-content-sha256"] ?? "");
    if (payloadHash.startsWith("STREAMING-")) {
      throw new S3Error(
        501,
        "NotImplemented",
        "aws-chunked uploads are not supported by this server; use HTTPS",
      );
    }
    if (payloadHash !== UNSIGNED) {
      if (!/^[0-9a-f]{64}$/.test(payloadHash)) {
        throw new S3Error(
          400,
          "InvalidArgument",
          "x-amz-content-sha256 must be a sha256 or UNSIGNED-PAYLOAD",
        );
      }
      if (sha256Hex(body) !== payloadHash) {
        throw new S3Error(
          400,
          "XAmzContentSHA256Mismatch",
          "The provided 'x-amz-content-sha256' header does not match what was computed.",
        );
      }
    }
    const query = [...url.searchParams.entries()]
      .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
      .sort(([ak, av], [bk, bv]) => (ak === bk ? (av < bv ? -1 : 1) : ak < bk ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join("&");
    const headers = auth.signedHeaders
      .map((name) => {
        const raw = req.headers[name];
        const value = Array.isArray(raw) ? raw.join(",") : (raw ?? "");
        return `${name}:${value.trim().replace(/\s+/g, " ")}\n`;
      })
      .join("");
    const canonical = [
      req.method,
      url.pathname,
      query,
      headers,
      auth.signedHeaders.join(";"),
      payloadHash,
    ].join("\n");
    const scope = `${auth.date}/${auth.region}/s3/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(canonical)].join("\n");
    const key = hmac(
      hmac(hmac(hmac(`AWS4${secretAccessKey}`, auth.date), auth.region), "s3"),
      "aws4_request",
    );
    const expected = hmac(key, toSign);
    if (!timingSafeEqual(expected, Buffer.from(auth.signature, "hex"))) {
      throw new S3Error(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
      );
    }
  }

  function send(
    res: ServerResponse,
    status: number,
    body: string | Buffer,
    headers: Record<string, string> = {},
  ) {
    const bytes = typeof body === "string" ? Buffer.from(body) : body;
    res.writeHead(status, { "content-length": String(bytes.length), ...headers });
    res.end(bytes);
  }

  function list(
    res: ServerResponse,
    name: string,
    objects: Map<string, StoredObject>,
    params: URLSearchParams,
  ) {
    if (params.get("list-type") !== "2") {
      throw new S3Error(501, "NotImplemented", "only ListObjectsV2 (list-type=2) is implemented");
    }
    const prefix = params.get("prefix") ?? "";
    const delimiter = params.get("delimiter") ?? "";
    const maxKeys = Math.min(Number(params.get("max-keys") ?? 1000), 1000);
    const after = params.get("continuation-token") ?? params.get("start-after") ?? "";
    const urlEncoded = params.get("encoding-type") === "url";
    const enc = (k: string) => xmlEscape(urlEncoded ? uriEncode(k).replaceAll("%2F", "/") : k);
    const keys = [...objects.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
    const contents: string[] = [];
    const prefixes = new Set<string>();
    let last = "";
    let truncated = false;
    for (const key of keys) {
      if (contents.length + prefixes.size >= maxKeys) {
        truncated = true;
        break;
      }
      const cut = delimiter === "" ? -1 : key.indexOf(delimiter, prefix.length);
      if (cut >= 0) {
        const common = key.slice(0, cut + delimiter.length);
        if (!prefixes.has(common)) prefixes.add(common);
        last = key;
        continue;
      }
      const object = objects.get(key);
      if (object === undefined) continue;
      contents.push(
        `<Contents><Key>${enc(key)}</Key><LastModified>${object.lastModified.toISOString()}</LastModified><ETag>&quot;${object.etag}&quot;</ETag><Size>${object.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
      );
      last = key;
    }
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${xmlEscape(name)}</Name><Prefix>${enc(prefix)}</Prefix><KeyCount>${contents.length + prefixes.size}</KeyCount><MaxKeys>${maxKeys}</MaxKeys>${delimiter === "" ? "" : `<Delimiter>${xmlEscape(delimiter)}</Delimiter>`}${urlEncoded ? "<EncodingType>url</EncodingType>" : ""}<IsTruncated>${truncated}</IsTruncated>${truncated ? `<NextContinuationToken>${xmlEscape(last)}</NextContinuationToken>` : ""}${contents.join("")}${[...prefixes].map((p) => `<CommonPrefixes><Prefix>${enc(p)}</Prefix></CommonPrefixes>`).join("")}</ListBucketResult>`;
    send(res, 200, xml, { "content-type": "application/xml" });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY)
        throw new S3Error(400, "EntityTooLarge", `bodies over ${MAX_BODY} bytes are refused`);
      chunks.push(chunk as Buffer);
    }
    const body = Buffer.concat(chunks);
    verify(req, url, body);
    const [, bucketName = "", ...rest] = url.pathname.split("/");
    const key = decodeURIComponent(rest.join("/"));
    const objects = buckets.get(decodeURIComponent(bucketName));
    if (objects === undefined)
      throw new S3Error(404, "NoSuchBucket", `The specified bucket does not exist: ${bucketName}`);
    const params = url.searchParams;
    if (params.has("uploads") || params.has("uploadId")) {
      throw new S3Error(501, "NotImplemented", "multipart uploads are not implemented");
    }
    if (key === "") {
      if (req.method === "HEAD") return send(res, 200, "");
      if (req.method !== "GET") throw new S3Error(405, "MethodNotAllowed", `${req.method} on a bucket`);
      if (params.has("location")) {
        const constraint = region === "us-east-1" ? "" : xmlEscape(region);
        return send(
          res,
          200,
          `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${constraint}</LocationConstraint>`,
          { "content-type": "application/xml" },
        );
      }
      return list(res, decodeURIComponent(bucketName), objects, params);
    }
    if ([...params.keys()].length > 0 && req.method !== "GET") {
      throw new S3Error(501, "NotImplemented", `sub-resources are not implemented: ${url.search}`);
    }
    switch (req.method) {
      case "PUT": {
        const etag = createHash("md5").update(body).digest("hex");
        objects.set(key, { body, etag, lastModified: new Date() });
        return send(res, 200, "", { etag: `"${etag}"` });
      }
      case "DELETE":
        objects.delete(key);
        return send(res, 204, "");
      case "GET":
      case "HEAD": {
        const object = objects.get(key);
        if (object === undefined) {
          if (req.method === "HEAD") return send(res, 404, "");
          throw new S3Error(404, "NoSuchKey", "The specified key does not exist.");
        }
        const meta = {
          etag: `"${object.etag}"`,
          "last-modified": object.lastModified.toUTCString(),
          "content-type": "application/octet-stream",
          "accept-ranges": "bytes",
        };
        const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ""));
        if (range !== null && req.method === "GET") {
          const start = Number(range[1]);
          const end =
            range[2] === "" ? object.body.length - 1 : Math.min(Number(range[2]), object.body.length - 1);
          if (start > end) throw new S3Error(416, "InvalidRange", "The requested range is not satisfiable");
          return send(res, 206, object.body.subarray(start, end + 1), {
            ...meta,
            "content-range": `bytes ${start}-${end}/${object.body.length}`,
          });
        }
        if (req.method === "HEAD") {
          res.writeHead(200, { ...meta, "content-length": String(object.body.length) });
          res.end();
          return;
        }
        return send(res, 200, object.body, meta);
      }
      default:
        throw new S3Error(405, "MethodNotAllowed", `${req.method} on an object`);
    }
  }

  const server: Server = createServer(
    { key: await readFile(keyFile), cert: await readFile(caFile) },
    (req, res) => {
      handle(req, res).catch((error: unknown) => {
        const e =
          error instanceof S3Error
            ? error
            : new S3Error(500, "InternalError", `fake S3 bug: ${String(error)}`);
        refusals.push(`${e.status} ${e.code}`);
        if (res.headersSent) {
          res.destroy();
          return;
        }
        const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${e.code}</Code><Message>${xmlEscape(e.message)}</Message></Error>`;
        send(res, e.status, req.method === "HEAD" ? "" : xml, { "content-type": "application/xml" });
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `https://127.0.0.1:${port}`,
    region,
    accessKeyId,
    secretAccessKey,
    caFile,
    refusals,
    objects(bucket: string) {
      const objects = buckets.get(bucket);
      if (objects === undefined) throw new Error(`no bucket ${bucket}`);
      return objects;
    },
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await removeTempDir(dir);
    },
  };
}
