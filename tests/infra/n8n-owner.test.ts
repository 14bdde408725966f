import bcrypt from "bcryptjs";
import { describe, expect, it } from "vitest";
import { n8nOwnerPasswordHash } from "../../infra/n8n-owner.js";

describe("the n8n owner's password hash", () => {
  const key = "an-encryption-key-of-at-least-24-chars";

  it("is a bcrypt hash n8n's bcryptjs accepts for the password, and only for it", () => {
    const hash = n8nOwnerPasswordHash("correct horse battery", key);
    expect(hash).toMatch(/^\$2b\$10\$[./A-Za-z0-9]{53}$/);
    expect(bcrypt.compareSync("correct horse battery", hash)).toBe(true);
    expect(bcrypt.compareSync("correct horse batterY", hash)).toBe(false);
  });

  it("stays the same for the same secrets, so an unchanged password does not replace n8n", () => {
    expect(n8nOwnerPasswordHash("correct horse battery", key)).toBe(
      n8nOwnerPasswordHash("correct horse battery", key),
    );
  });

  it("differs for another password or another instance key (the salt is not shared)", () => {
    const hash = n8nOwnerPasswordHash("correct horse battery", key);
    expect(bcrypt.getSalt(n8nOwnerPasswordHash("another password", key))).not.toBe(bcrypt.getSalt(hash));
    expect(bcrypt.getSalt(n8nOwnerPasswordHash("correct horse battery", `${key}!`))).not.toBe(
      bcrypt.getSalt(hash),
    );
  });
});
