import { describe, expect, it } from "vitest";
import { type GuestRef, guestOf } from "../../src/drivers/guest-match";

describe("guestOf", () => {
  const guests: GuestRef[] = [
    { name: "web", configFile: "/etc/xen/web.cfg" },
    { name: "db", configFile: "/etc/xen/auto/database" },
    { name: "mail" },
    { name: "/etc/xen/db2.cfg" },
    { name: "db2", configFile: "/srv/db2.cfg" },
  ];

  it("matches a name, a config file's path, its base name or its stem", () => {
    expect(guestOf("web", guests)).toBe("web");
    expect(guestOf("  /etc/xen/web.cfg ", guests)).toBe("web");
    expect(guestOf("web.cfg", guests)).toBe("web");
    expect(guestOf("/other/dir/database", guests)).toBe("db");
    expect(guestOf("mail.conf", guests)).toBe("mail");
    expect(guestOf("", guests)).toBeNull();
    expect(guestOf("nothing", guests)).toBeNull();
  });

  it("takes the first exact match in inventory order, name or path", () => {
    // Exact: the guest named "/etc/xen/db2.cfg" comes before db2, whose file has that base name only.
    expect(guestOf("/etc/xen/db2.cfg", guests)).toBe("/etc/xen/db2.cfg");
    expect(guestOf("/srv/db2.cfg", guests)).toBe("db2");
  });

  it("gives nothing when a base name stands for more than one guest", () => {
    const two: GuestRef[] = [
      { name: "a", configFile: "/x/vm.cfg" },
      { name: "b", configFile: "/y/vm.cfg" },
    ];
    expect(guestOf("/z/vm.cfg", two)).toBeNull();
    // The same guest matched two ways is one guest.
    const one: GuestRef[] = [{ name: "vm", configFile: "/x/vm.cfg" }];
    expect(guestOf("/z/vm.cfg", one)).toBe("vm");
    const twins: GuestRef[] = [{ name: "vm" }, { name: "vm" }];
    expect(guestOf("/z/vm.cfg", twins)).toBeNull();
    expect(guestOf("vm", twins)).toBe("vm");
  });

  it("reads a list it has not seen as it is (the index is per list)", () => {
    expect(guestOf("web", [{ name: "other" }])).toBeNull();
    expect(guestOf("other", [{ name: "other" }])).toBe("other");
  });
});
