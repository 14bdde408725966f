/** One file part of a multipart/form-data body. */
export interface MultipartFile {
  filename: string;
  contentType: string | undefined;
  bytes: Buffer;
}

/** A parsed multipart/form-data body: text fields and file parts, each by their `name`. */
export interface MultipartBody {
  fields: Record<string, string>;
  files: Record<string, MultipartFile>;
}

/** Thrown when a body does not follow RFC 7578 closely enough to be read. */
export class MultipartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MultipartError";
  }
}

/** Reads `key=value` or `key="value"` from a header's parameters (case-insensitive key). */
function headerParam(header: string, key: string): string | undefined {
  const match = new RegExp(`(?:^|;)\\s*${key}\\s*=\\s*(?:"([^"]*)"|([^;]*))`, "i").exec(header);
  if (match === null) return undefined;
  return (match[1] ?? match[2] ?? "").trim();
}

/** The boundary of a `multipart/form-data; boundary=...` content type, or undefined. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (contentType === undefined || !/^multipart\/form-data\s*;/i.test(contentType)) return undefined;
  return headerParam(contentType.slice(contentType.indexOf(";")), "boundary");
}

/**
 * Parses a multipart/form-data body. Header names and parameters are read case-insensitively and with or
 * without quotes and spaces, because grammY writes `content-disposition:form-data;name="x";filename=y`
 * while browsers and undici write `Content-Disposition: form-data; name="x"; filename="y"`.
 */
export function parseMultipart(body: Buffer, boundary: string): MultipartBody {
  const delimiter = Buffer.from(`--${boundary}`);
  const result: MultipartBody = { fields: {}, files: {} };
  let cursor = body.indexOf(delimiter);
  if (cursor < 0) throw new MultipartError("the body does not contain the boundary of its content type");
  for (;;) {
    cursor += delimiter.length;
    if (body.subarray(cursor, cursor + 2).toString("latin1") === "--") return result;
    if (body.subarray(cursor, cursor + 2).toString("latin1") !== "\r\n") {
      throw new MultipartError("a boundary line is not followed by CRLF");
    }
    cursor += 2;
    const headerEnd = body.indexOf("\r\n\r\n", cursor);
    if (headerEnd < 0) throw new MultipartError("a part has no end of headers");
    const headers = new Map<string, string>();
    for (const line of body.subarray(cursor, headerEnd).toString("utf8").split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const next = body.indexOf(Buffer.concat([Buffer.from("\r\n"), delimiter]), headerEnd + 4);
    if (next < 0) throw new MultipartError("a part is not closed by the boundary");
    const content = body.subarray(headerEnd + 4, next);
    const disposition = headers.get("content-disposition") ?? "";
    const name = headerParam(disposition, "name");
    if (!/^form-data/i.test(disposition) || name === undefined) {
      throw new MultipartError("a part has no `content-disposition: form-data; name=...` header");
    }
    const filename = headerParam(disposition, "filename");
    if (filename === undefined) result.fields[name] = content.toString("utf8");
    else
      result.files[name] = {
        filename,
        contentType: headers.get("content-type"),
        bytes: Buffer.from(content),
      };
    cursor = next + 2;
  }
}
