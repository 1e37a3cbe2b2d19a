/**
 * Authorisation on Slack's immutable IDs: user IDs and user-group membership from the config's
 * roles. Names and display names are never consulted.
 */

import type { InventoryConfig, RoleName } from "../config/schema";
import type { GroupDirectory } from "./types";

/** Each role includes the ones before it: an approver may also do what an operator may. */
export const ROLE_ORDER: readonly RoleName[] = ["viewer", "operator", "approver", "admin"];

export function roleRank(role: RoleName): number {
  return ROLE_ORDER.indexOf(role);
}

export class Authorizer {
  constructor(
    private readonly roles: InventoryConfig["roles"],
    private readonly groups: GroupDirectory,
  ) {}

  /** The highest role the user holds, or null. */
  async roleOf(userId: string): Promise<RoleName | null> {
    let memberOf: readonly string[] | null = null;
    for (const role of [...ROLE_ORDER].reverse()) {
      const members = this.roles[role];
      if (members.users.includes(userId)) return role;
      if (members.groups.length > 0) {
        memberOf ??= await this.groups.groupsOf(userId);
        if (members.groups.some((g) => memberOf?.includes(g))) return role;
      }
    }
    return null;
  }

  async has(userId: string, needed: RoleName): Promise<boolean> {
    const role = await this.roleOf(userId);
    return role !== null && roleRank(role) >= roleRank(needed);
  }
}

/** A directory with fixed memberships (console, lab, tests). */
export class StaticGroupDirectory implements GroupDirectory {
  constructor(private readonly memberships: Readonly<Record<string, readonly string[]>> = {}) {}
  async groupsOf(userId: string): Promise<readonly string[]> {
    return this.memberships[userId] ?? [];
  }
}
