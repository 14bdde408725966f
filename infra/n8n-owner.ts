import { createHmac } from "node:crypto";
import bcrypt from "bcryptjs";

/** bcrypt cost of the owner's hash; n8n hashes its own users' passwords with the same cost. */
const BCRYPT_COST = 10;

/**
 * N8N_INSTANCE_OWNER_PASSWORD_HASH: the bcrypt hash n8n (2.17 and later, with
 * N8N_INSTANCE_OWNER_MANAGED_BY_ENV) applies to the owner account at every start, so the owner exists
 * before anyone can open the setup page. The salt is derived from the password and the instance's
 * encryption key instead of drawn at random: the same secrets give the same hash, so an unchanged
 * password does not change the container's environment and replace n8n on every `pulumi up`. (A salt's
 * job is to make equal passwords hash differently across accounts; one derived through a keyed HMAC from
 * a secret nobody else holds still does that.)
 */
export function n8nOwnerPasswordHash(password: string, encryptionKey: string): string {
  const seed = createHmac("sha256", encryptionKey).update(`n8n owner salt\0${password}`).digest();
  const salt = `$2b$${BCRYPT_COST}$${bcrypt.encodeBase64([...seed.subarray(0, 16)], 16)}`;
  return bcrypt.hashSync(password, salt);
}
