/**
 * The Linux boot id (`/proc/sys/kernel/random/boot_id`): a random UUID the kernel draws at every boot.
 * A node that answers with a different one has been rebooted in between, which is how a reset fence of
 * a node that came back before the HA view noticed it was gone can still be verified.
 */

export const BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id";

/** Read-only: the command that prints the boot id. */
export const bootIdArgv = (): string[] => ["cat", BOOT_ID_PATH];

// The kernel prints a version-4 UUID in lowercase (lib/uuid.c: generate_random_uuid, "%pU").
const BOOT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * The boot id in `cat`'s output: exactly one line holding a lowercase version-4 UUID (the trailing
 * newline optional). Anything else (empty, several lines, upper case, another UUID version, extra
 * words) is null: unknown, never a value to compare.
 */
export function parseBootId(stdout: string): string | null {
  const text = stdout.endsWith("\n") ? stdout.slice(0, -1) : stdout;
  return BOOT_ID.test(text) ? text : null;
}
