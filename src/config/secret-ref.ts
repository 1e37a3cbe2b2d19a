/**
 * A secret reference, on its own so that the drivers that declare secret options (fence methods) can
 * name it without importing the whole inventory schema, which composes their options.
 */
import { z } from "zod";

/** A secret is never written inline: it names an environment variable or a file holding it. */
export const SecretRef = z.union([
  z.object({ env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "an environment variable name") }).strict(),
  z.object({ file: z.string().min(1) }).strict(),
]);
export type SecretRef = z.infer<typeof SecretRef>;
