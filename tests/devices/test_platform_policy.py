"""Per-family command policy: evasions a technician would try, and everyday commands.

Each family's evasions are written from its vendor's command reference (abbreviations
the device itself accepts, mode prefixes, aliases and script escapes), then typed the
ways people type: upper case, mixed case, extra blanks and tabs, and behind every mode
prefix the family has. Every one must be refused; every ordinary command must pass.
"""

from __future__ import annotations

import re

import pytest

from custody.devices.platforms import PLATFORMS, platform_for
from custody.devices.policy import CommandPolicy, Verdict
from custody.errors import CommandRefused, CustodyError

EVASIONS: dict[str, list[str]] = {
    "cisco_ios": [
        "reload", "rel", "reload in 5", "reload at 23:00", "wr e", "write erase", "wri er",
        "cry k z", "crypto key zeroize rsa", "er startup-config", "erase nvram:", "eras flash:",
        "del flash:config.text", "delete /force /recursive flash:", "form flash:", "squ flash:",
        "conf replace flash:blank.cfg", "configure factory-default", "boot system flash:x.bin",
        "alias exec r reload", "ali exec sr show run", "tclsh", "tcls", "event manager applet X",
        "ev man run X", "kron policy-list P", "kro occurrence O in 1 oneshot", "debug all",
        "deb al", "test crash", "archive config", "archive download-sw /reload tftp://x",
        "license clear all", "rel?oad", "do-exec reload", "guestshell run bash",
        "username x privilege 15 autocommand reload", "autocommand reload",
        "request platform software system shell", "redundancy reload shelf",
        "install add file flash:x.bin activate commit",
    ],
    "cisco_nxos": [
        "reload", "relo", "reload module 1", "wr e", "write erase boot", "del bootflash:x",
        "format bootflash:", "install all nxos bootflash:n9k.bin", "install reset",
        "rollback running-config checkpoint c1",
        "run bash", "run bash sudo su", "bash", "guestshell", "guestshell run id", "python",
        "pyth bootflash:x.py", "tclsh", "source bootflash:script", "cli alias name r reload",
        "alias r reload", "event manager applet X", "scheduler job name J", "feature bash-shell",
        "system mode maintenance", "debug all", "show clock ; reload", "show clock ; run bash",
        "run guestshell", "python3", "run-script bootflash:x", "terminal alias persist r reload",
        "boot nxos bootflash:x.bin",
    ],
    "cisco_xr": [
        "reload", "reload location all", "admin reload location all", "admin",
        "hw-module location all reload",
        "hw-module location 0/RP0/CPU0 reload", "hw-module location all shutdown", "format disk0:",
        "delete disk0:x", "commit replace", "run", "run ls /", "bash", "bash -c reboot",
        "alias r reload", "crypto key zeroize rsa", "install activate x", "process shutdown bgp",
        "debug all",
    ],
    "arista_eos": [
        "reload", "reload now", "reload power", "wr e", "write erase", "erase startup-config",
        "delete flash:startup-config", "format flash:", "zerotouch enable", "zerotouch cancel",
        "bash", "bash sudo reboot", "bash timeout 10 reboot", "python-shell", "alias r reload",
        "event-handler E", "schedule s interval 1 max-log-files 1 command reload",
        "daemon d", "configure replace flash:x",
    ],
    "hp_procurve": [
        "reload", "rel", "reload at 23:00", "boot system flash primary", "erase startup-config",
        "erase all", "write erase", "crypto key zeroize", "alias r reload", "job J at 1:00 reload",
        "kill", "kill 1", "repeat",
    ],
    "juniper_junos": [
        "request system reboot", "req sys reb", "request system reboot in 1", "request system halt",
        "req sys ha", "request system power-off", "request system zeroize",
        "req sys zer media", "request vmhost reboot", "request vmhost halt",
        "request vmhost power-off", "request vmhost zeroize", "request system software add x.tgz",
        "request system snapshot slice alternate", "request chassis fpc slot 0 offline",
        "start shell", "start shell user root", "sta sh", "op url http://x/s.slax", "op x",
        "load factory-default", "file delete /config/juniper.conf.gz", "restart routing",
        "set system scripts op file x.slax", "set event-options policy P then execute-commands",
        "set scripts op file x.slax", "edit event-options", "load merge terminal",
        "load override /var/tmp/x.conf", "request system power-cycle", "request system \"reboot\"",
        "req?uest system reboot",
    ],
    "huawei": [
        "reboot", "reb", "reboot fast", "reset saved-configuration", "res sa", "reset factory-configuration",
        "delete flash:/vrpcfg.zip", "delete /unreserved flash:/x", "format flash:",
        "startup saved-configuration x.cfg",
        "schedule reboot delay 1", "sch reb at 23:00", "ops", "python", "pyth flash:/x.py",
        "undo mmi-mode enable", "super 15", "reboot save diagnostic-information", "format sd1:",
        "startup system-software x.cc", "schedule reboot at 02:00", "ops install file x.py",
    ],
    "hp_comware": [
        "reboot", "reboot force", "reset saved-configuration", "reset sa", "restore factory-default",
        "delete flash:/startup.cfg", "delete /unreserved flash:/x", "format flash:", "fdisk flash:",
        "boot-loader file flash:/x.ipe all main", "startup saved-configuration x.cfg",
        "scheduler job J", "scheduler schedule S", "python", "tclsh", "alias r reboot",
        "_cmdline-mode on", "xtd-cli-mode", "install activate", "password-recovery enable",
        "reboot slot 1", "scheduler reboot delay 1", "rtm cli-policy P", "auto-execute command x",
    ],
    "mikrotik_routeros": [
        "/system reboot", "/system/reboot", "system reboot", "/sys reb", "/sy rebo", "reboot",
        "/system shutdown", "/system reset-configuration no-defaults=yes",
        "/system script add name=s source=\"/system reboot\"", "/system script run s",
        "/system scheduler add on-event=\"/system reboot\"", "/system package downgrade",
        "/system package uninstall x", "/system backup load name=x", "/disk format-drive disk1",
        ":execute {/system reboot}", ":execute script=\"/system reboot\"", ":parse \"/system reboot\"",
        "/import file-name=x.rsc", ":put [/system reboot]", ":delay 1; /system reboot",
        "{ /system reboot }", "/ip address print; /system reboot",
        "/tool netwatch add host=192.0.2.1 down-script=\"/system reboot\"",
        "/ip dhcp-client set 0 script=\"/system reboot\"", "/ppp profile set default on-up=x",
        "/system package update install",
    ],
    "fortinet": [
        "execute reboot", "exe reb", "exec reboot", "execute shutdown", "exe shut",
        "execute factoryreset", "execute factoryreset2", "execute factoryreset-shutdown",
        "execute formatlogdisk", "execute erase-disk SYSTEM", "execute disk format 1",
        "execute restore config tftp x 1.1.1.1", "execute batch start", "execute alias r",
        "config system auto-script", "conf sys auto-script", "config system alias",
        "config system automation-action", "fnsysctl ls", "sudo global execute reboot",
        "sudo root exe reb", "execute \"reboot\"",
    ],
    "paloalto_panos": [
        "request restart system", "request restart dataplane", "req rest sys",
        "request shutdown system", "request system private-data-reset",
        "request system software install version 11.0.0", "debug system maintenance-mode",
        "debug software restart process mgmtd", "load config partial from x",
        "delete config saved x.xml", "run request restart system", "run request shutdown system",
        "request restart software", "request system private-data-reset shutdown",
        "run debug system maintenance-mode", "request restart system force",
    ],
    "linux": [
        "reboot", "/sbin/reboot", "/usr/sbin/reboot -f", "systemctl --force reboot",
        "systemctl reboot", "shutdown -h now", "halt", "poweroff", "init 0", "init 6",
        "telinit 6", "rm -rf /*", "rm -fr /", "rm -r --no-preserve-root /", "sudo reboot",
        "sudo -u root reboot", "env reboot", "command reboot", "nohup reboot &",
        "echo x & reboot", "$(reboot)", "`reboot`", "sh -c reboot", "bash -c 'reboot'",
        "\\reboot", "re''boot", "if true; then reboot; fi", "{ reboot; }", "X=1 reboot",
        "( reboot )", "true && reboot", "false || reboot", "busybox reboot",
        "timeout 5 reboot", "exec reboot", "mkfs.ext4 /dev/sda1", "dd if=/dev/zero of=/dev/sda",
        "wipefs -a /dev/sda", "eval reboot", "f() { reboot; }; f", "for i in 1; do reboot; done",
        "kexec -e", "alias r=reboot", "trap reboot DEBUG", "PS1='$(reboot)'",
        "export PROMPT_COMMAND=reboot", "!!", "^ls^reboot", "fc -s ls=reboot",
        "bind -x '\"\\C-a\":reboot'", "PATH=/tmp/evil:$PATH ls",
        # The review's wrapper and stdin escapes.
        "bash -c -- reboot", "env -S reboot", "env --split-string=reboot", "sudo -nu root reboot",
        "sudo --user root reboot", "xargs --max-args 1 reboot", "stdbuf --output L reboot",
        "watch --interval 1 reboot", "flock /tmp/l reboot", "runuser root -c reboot",
        "su --command=reboot", "script --command=reboot", "echo reboot | bash",
        "bash <<< reboot", "bash < /tmp/f", "bash /tmp/f", "exec -a reboot systemctl",
        "systemctl start reboot.target", "loginctl reboot", "kill -INT 1",
        "echo b > /proc/sysrq-trigger", "cat /dev/zero > /dev/sda", "set -o vi",
    ],
}

ORDINARY: dict[str, list[str]] = {
    "cisco_ios": [
        "show version", "sh ver", "sh run", "show running-config interface Gi0/1",
        "sh ip int br", "show ip route", "conf t", "configure terminal", "interface Gi0/1",
        "description uplink", "no shutdown", "end", "wr", "write memory", "copy run start",
        "ping 10.0.0.1", "traceroute 10.0.0.1", "terminal length 0", "dir flash:",
        "show logging", "clear counters", "do sh ip int br", "show reload", "sh crypto key mypubkey rsa",
        "show archive", "undebug all", "exit",
    ],
    "cisco_nxos": [
        "show version", "sh ver", "show running-config", "sh int br", "show ip route vrf all",
        "conf t", "interface Ethernet1/1", "description uplink", "no shutdown", "end",
        "copy running-config startup-config", "ping 10.0.0.1", "traceroute 10.0.0.1",
        "terminal length 0", "dir bootflash:", "show logging last 50", "clear counters",
        "show install all status", "show system resources", "show cli alias", "do show vlan",
    ],
    "cisco_xr": [
        "show version", "sh ver", "show running-config", "show ip interface brief",
        "show route", "configure", "interface GigabitEthernet0/0/0/0", "description uplink",
        "no shutdown", "commit", "end", "ping 10.0.0.1", "traceroute 10.0.0.1",
        "terminal length 0", "dir disk0:", "show logging", "clear counters", "show install active",
        "show platform", "show hw-module fpd", "do show route",
    ],
    "arista_eos": [
        "show version", "sh ver", "show running-config", "sh ip int br", "show ip route",
        "conf t", "interface Ethernet1", "description uplink", "no shutdown", "end", "wr",
        "write memory", "copy running-config startup-config", "ping 10.0.0.1",
        "traceroute 10.0.0.1", "terminal length 0", "dir flash:", "show logging",
        "clear counters", "show reload cause", "do show vlan", "show zerotouch",
    ],
    "hp_procurve": [
        "show version", "show running-config", "show interfaces brief", "show ip route",
        "configure", "interface 1", "name uplink", "enable", "no shutdown", "end",
        "write memory", "copy running-config startup-config", "ping 10.0.0.1",
        "traceroute 10.0.0.1", "show logging", "clear statistics 1", "show vlans",
        "show system", "show tech", "show boot-history", "do show vlans",
    ],
    "juniper_junos": [
        "show version", "show interfaces terse", "show route", "show configuration",
        "sh conf", "configure", "edit interfaces ge-0/0/0", "set description uplink",
        "commit check", "commit", "rollback 1", "exit", "ping 10.0.0.1 count 3",
        "traceroute 10.0.0.1", "show log messages", "clear interfaces statistics all",
        "monitor interface traffic", "show system uptime", "show chassis hardware",
        "request support information", "run show route", "file list /var/log",
        "show system reboot",
    ],
    "huawei": [
        "display version", "dis cur", "display current-configuration", "display ip interface brief",
        "display ip routing-table", "system-view", "interface GigabitEthernet0/0/1",
        "description uplink", "undo shutdown", "quit", "return", "save", "ping 10.0.0.1",
        "tracert 10.0.0.1", "screen-length 0 temporary", "dir flash:", "display logbuffer",
        "reset counters interface", "display device", "display startup", "display schedule reboot",
    ],
    "hp_comware": [
        "display version", "dis cur", "display current-configuration", "display ip interface brief",
        "display ip routing-table", "system-view", "interface GigabitEthernet1/0/1",
        "description uplink", "undo shutdown", "quit", "return", "save force", "ping 10.0.0.1",
        "tracert 10.0.0.1", "screen-length disable", "dir flash:", "display logbuffer",
        "reset counters interface", "display device", "display startup", "display boot-loader",
    ],
    "mikrotik_routeros": [
        "/system resource print", "/ip address print", "/interface print", "/ip route print",
        "/ip address add address=10.0.0.1/24 interface=ether1", "/interface set ether1 comment=uplink",
        "/ip firewall filter print", "/ping 10.0.0.1 count=3", "/tool traceroute 10.0.0.1",
        "/log print", "/system identity print", "/system clock print", "/export",
        "/export compact", "/interface ethernet print", "/ip dhcp-server lease print",
        "/system routerboard print", "/system package print", "/user print", "/ip service print",
        "/system history print", "/ip dns print",
    ],
    "fortinet": [
        "get system status", "show system interface", "show full-configuration system interface",
        "config system interface", "edit port1", "set description uplink", "next", "end",
        "execute ping 10.0.0.1", "exe ping 10.0.0.1", "execute traceroute 10.0.0.1",
        "get router info routing-table all", "diagnose sys top", "diagnose debug reset",
        "execute log display", "get system performance status", "show firewall policy",
        "config firewall address", "execute backup config tftp x 10.0.0.2", "get system arp",
        "sudo global get system status",
    ],
    "paloalto_panos": [
        "show system info", "show interface all", "show routing route", "show session all",
        "configure", "set deviceconfig system hostname fw1", "commit", "exit",
        "ping host 10.0.0.1", "traceroute host 10.0.0.1", "show log traffic",
        "show running security-policy", "show jobs all", "request license info",
        "show system resources", "test security-policy-match from trust to untrust",
        "run show system info", "show counter global", "show high-availability state",
        "request system software check", "show clock",
    ],
    "linux": [
        "uptime", "ip addr", "ip route show", "ss -tlnp", "df -h", "free -m", "ps aux",
        "systemctl status nginx", "journalctl -u nginx -n 50", "cat /etc/os-release",
        "ls -la /var/log", "grep -i error /var/log/syslog", "tail -n 100 /var/log/syslog",
        "ping -c 3 10.0.0.1", "traceroute 10.0.0.1", "rm -rf /tmp/build", "echo hello | wc -c",
        "systemctl restart nginx", "uname -a", "hostname", "id", "who", "dmesg | tail",
        "for f in /etc/*.conf; do head -1 \"$f\"; done",
    ],
}

VARIANTS = (
    lambda s: s,
    str.upper,
    lambda s: "".join(c.upper() if i % 2 else c for i, c in enumerate(s)),
    lambda s: "  " + s.replace(" ", " \t ") + "  ",
    lambda s: re.sub(r"(?<![\w:/-])([a-z]{3})[a-z-]{2,}(?![\w-])", r"\1", s),  # "wri era"
)


def typed(family: str, line: str) -> list[str]:
    """The ways a technician would type one line on this family's CLI."""
    platform = platform_for(family)
    if platform.shell:  # a shell is case-sensitive: blanks and company only
        if line.startswith("^"):  # quick substitution works only at the start of a line
            return [line, "  " + line]
        return [line, "  " + line + "  ", f"true; {line}", f"sudo {line}"]
    forms = [v(line) for v in VARIANTS]
    for prefix in platform.prefixes:
        head = " ".join("global" if w == "*" else w for w in prefix)
        forms += [f"{head} {line}", f"{head.upper()}  {line}"]
        if prefix == ("do",):
            forms.append(f"do do {line}")
    return list(dict.fromkeys(forms))


def test_every_family_is_covered() -> None:
    assert {p.name for p in PLATFORMS} == set(EVASIONS) == set(ORDINARY)


@pytest.mark.parametrize("family", sorted(EVASIONS))
def test_evasions_are_refused(family: str) -> None:
    policy = CommandPolicy.for_device(next(iter(sorted(platform_for(family).device_types))))
    tried = [form for line in EVASIONS[family] for form in typed(family, line)]
    assert len(tried) >= 100
    passed = []
    for line in tried:
        try:
            if policy.decide(line).verdict is Verdict.ALLOW:
                passed.append(line)
        except CustodyError:
            pass  # unreadable, or a tab the device would complete: refused as well
    assert passed == []


@pytest.mark.parametrize("family", sorted(ORDINARY))
def test_ordinary_commands_pass(family: str) -> None:
    policy = CommandPolicy.for_device(next(iter(sorted(platform_for(family).device_types))))
    assert len(ORDINARY[family]) >= 20
    refused = {line: policy.blocked_by(line) for line in ORDINARY[family]
               if policy.decide(line).verdict is not Verdict.ALLOW}
    assert refused == {}


def test_the_same_family_for_every_type_it_maps() -> None:
    for device_type in ("cisco_xe", "cisco_asa"):
        policy = CommandPolicy.for_device(device_type)
        assert policy.blocked_by("wr e") == "write erase"
    assert CommandPolicy.for_device("vyos").blocked_by("/sbin/reboot") == "reboot"


def test_a_complete_keyword_is_not_read_as_a_longer_one() -> None:
    """"write" is a word of its own: "write" alone (write memory) is not "write erase"."""
    ios = CommandPolicy.for_device("cisco_ios")
    assert ios.blocked_by("write") is None
    assert ios.blocked_by("wr") is None
    nxos = CommandPolicy.for_device("cisco_nxos")
    assert nxos.blocked_by("run bash") == "run"


def test_client_rules_are_read_like_the_defaults() -> None:
    policy = CommandPolicy.for_device("cisco_ios", ["clear ip bgp"])
    assert policy.blocked_by("cl ip bg *") == "clear ip bgp"
    assert policy.blocked_by("do cle ip bgp 10.0.0.1") == "clear ip bgp"
    assert policy.blocked_by("clear counters") is None
    with pytest.raises(CommandRefused, match="rule: clear ip bgp"):
        policy.check("clear ip bgp *")


def test_allow_list_mode() -> None:
    ios = CommandPolicy.for_device("cisco_ios", allow=["show", "ping", "traceroute"])
    assert ios.decide("sh ip int br").verdict is Verdict.ALLOW
    assert ios.decide("do show run").verdict is Verdict.ALLOW
    assert ios.decide("p 10.0.0.1").verdict is Verdict.UNLISTED  # ambiguous: ping or pwd
    assert ios.decide("conf t").verdict is Verdict.UNLISTED
    assert ios.decide("show version").verdict is Verdict.ALLOW
    with pytest.raises(CommandRefused, match="not on this client's list"):
        ios.check("clear counters")
    shell = CommandPolicy.for_device("linux", allow=["uptime", "systemctl status", "grep"])
    assert shell.decide("systemctl status nginx").verdict is Verdict.ALLOW
    assert shell.decide("uptime | grep load").verdict is Verdict.ALLOW
    assert shell.decide("systemctl restart nginx").verdict is Verdict.UNLISTED
    assert shell.decide("uptime; id").verdict is Verdict.UNLISTED  # every command must be listed
    assert shell.decide("uptime $(id)").verdict is Verdict.UNLISTED
    # Deny rules still apply to allowed programs.
    denying = CommandPolicy.for_device("linux", allow=["systemctl"])
    assert denying.decide("systemctl reboot").verdict is Verdict.DENY
