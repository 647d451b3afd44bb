"""The platform registry: each device family's traits in one place.

netmiko's ``CLASS_MAPPER`` is the model: one table, looked up by the device type an
admin enrols a device with. A family says how its CLI reads a line (a shell grammar,
or words the device accepts abbreviated), which words its exec mode knows (so an
abbreviation resolves as the device would resolve it), which commands are refused by
default, how a session is elevated (and whether it can be), and which driver rotates
its credentials.

The word lists are each family's top-level exec (and, where an escape hides there,
configuration) keywords as the vendor's command reference lists them. They only need
to be right about whole words: a token that is a prefix of a denied word is refused
unless it is itself another complete word of the list, so a list that is missing a
word makes the broker refuse more, never less.
"""

from __future__ import annotations

from dataclasses import dataclass

from custody.errors import InvalidInput


@dataclass(frozen=True)
class Elevation:
    """How the broker raises a session's privilege, right after login."""

    command: str  # typed by the broker, never by the technician
    password_prompt: str  # regex netmiko waits for before typing the secret
    elevated_prompt: str  # regex for the prompt once elevated
    label: str  # what people call it ("enable", "sudo")


@dataclass(frozen=True)
class Platform:
    """One device family."""

    name: str
    label: str
    device_types: frozenset[str]
    shell: bool = False  # lines are shell lines (bash grammar), not CLI words
    words: frozenset[str] = frozenset()  # exec-mode keywords, for abbreviations
    deny: tuple[str, ...] = ()  # default deny rules; "*" stands for any one word
    # Words that run the rest of the line in another mode ("do" in config mode).
    prefixes: tuple[tuple[str, ...], ...] = ()
    # Commands live in menus ("/system" then "reboot"): a rule's tail is refused alone.
    menus: bool = False
    # Characters that separate commands on one line (MikroTik scripting, NX-OS " ; ").
    separators: str = ""
    # Properties whose value is a command run later ("name=value" anywhere on the line),
    # refused under any abbreviation of the name (RouterOS accepts them abbreviated).
    deny_properties: tuple[str, ...] = ()
    # Keys that wipe a refused line on the device: go to its end, then delete to its start.
    wipe: str = "\x05\x15"
    help_key: str = ""  # typing it shows help and is not part of the line
    # A key that makes the device print its prompt and runs nothing (a shell's Ctrl-L):
    # sent when a terminal first attaches, so the prompt shows before the first key.
    redraw: str = ""
    elevation: Elevation | None = None
    rotation: str | None = None  # name of the credential rotation driver, if any


_ENABLE = Elevation("enable", r"ssword", r"#\s*$", "enable")
_SUDO = Elevation("/usr/bin/sudo -s", r"ssword", r"#\s*$", "sudo")
# Config-mode "do" runs an exec command; several families accept it.
_DO = (("do",),)
# VRP and Comware: Ctrl-E to the end, Ctrl-X deletes everything left of the cursor.
_VRP_WIPE = "\x05\x18"
# Rules starting with "..." match at any word of the line (properties that store a command).

CISCO_IOS = Platform(
    name="cisco_ios", label="Cisco IOS / IOS XE / ASA",
    device_types=frozenset({"cisco_ios", "cisco_xe", "cisco_asa"}),
    words=frozenset("""
        access-enable access-profile access-template archive auto bfe calendar cd clear clock
        cns configure connect copy crypto debug delete diagnostic dir disable disconnect dot1x
        enable eou erase event exit format fsck help ip license lock login logout mkdir monitor
        more mtrace name-connection no ping pwd release reload rename renew resume rmdir rsh
        send set setup show slip squeeze ssh systat tclquit tclsh telnet terminal test
        traceroute tunnel udld undebug upgrade verify vlan where write alias kron boot
        service username hostname interface router line end
        """.split()),
    deny=("reload", "write erase", "erase", "delete", "format", "crypto key zeroize", "squeeze",
          "configure replace", "configure factory-default", "boot",
          "license clear", "tclsh", "alias", "event manager", "kron", "debug all", "test crash",
          "archive config", "archive download-sw", "... autocommand", "guestshell",
          "request platform software system shell", "redundancy reload", "install"),
    prefixes=(("do",), ("do-exec",)), help_key="?", elevation=_ENABLE, rotation="cisco")

CISCO_NXOS = Platform(
    name="cisco_nxos", label="Cisco NX-OS", device_types=frozenset({"cisco_nxos"}),
    words=frozenset("""
        attach bash boot callhome cd checkpoint clear cli clock configure copy debug delete
        diff-clean dir echo end ethanalyzer event exit find format guestshell gunzip gzip
        install ip ipv6 load locator-led mkdir move no ntp ping ping6 python reload restart
        rmdir rollback routing-context run run-script send setup show sleep slot source ssh system
        tac-pac tail tar tclsh telnet terminal test traceroute undebug where write xml zip
        scheduler feature username hostname interface
        """.split()),
    deny=("reload", "write erase", "delete", "format", "install all", "install reset",
          "rollback", "run", "run-script", "bash", "guestshell", "python", "python3", "tclsh",
          "source", "cli alias", "terminal alias", "alias", "event manager", "scheduler",
          "feature bash-shell", "system mode maintenance", "debug all", "boot"),
    prefixes=_DO, separators=";", help_key="?", elevation=_ENABLE, rotation="cisco")

CISCO_XR = Platform(
    name="cisco_xr", label="Cisco IOS XR", device_types=frozenset({"cisco_xr"}),
    words=frozenset("""
        admin alias bash cd clear clock commit configure copy crypto debug delete describe dir
        exit format hw-module install mkdir monitor more ping process pwd reload rmdir run
        show ssh telnet terminal top traceroute undebug upgrade utility username hostname
        interface router end
        """.split()),
    deny=("reload", "admin", "hw-module location * reload", "hw-module location * shutdown",
          "format", "delete", "commit replace", "run", "bash", "alias", "crypto key zeroize",
          "install", "process shutdown", "debug all"),
    prefixes=_DO, help_key="?", rotation="cisco")

ARISTA_EOS = Platform(
    name="arista_eos", label="Arista EOS", device_types=frozenset({"arista_eos"}),
    words=frozenset("""
        bash clear clock configure copy daemon delete diff dir disable enable erase event-handler
        exit format more no ping python-shell reload schedule send show ssh telnet terminal
        traceroute watch write zerotouch alias username hostname interface router end
        """.split()),
    deny=("reload", "write erase", "erase", "delete", "format", "zerotouch", "bash",
          "python-shell", "alias", "event-handler", "schedule", "daemon",
          "configure replace"),
    prefixes=_DO, help_key="?", elevation=_ENABLE, rotation="cisco")

HP_PROCURVE = Platform(
    name="hp_procurve", label="HPE ProCurve / ArubaOS-Switch", device_types=frozenset({"hp_procurve"}),
    words=frozenset("""
        boot clear configure copy crypto debug dir enable end erase exit getmib kill licenses
        link-test logout menu no page ping redo repeat setmib setup show telnet terminal
        traceroute write reload alias job password
        """.split()),
    deny=("reload", "boot", "erase", "write erase", "crypto key zeroize", "alias", "job",
          "kill", "repeat"),
    prefixes=_DO, help_key="?", elevation=_ENABLE)

JUNIPER_JUNOS = Platform(
    name="juniper_junos", label="Juniper Junos", device_types=frozenset({"juniper_junos"}),
    words=frozenset("""
        clear configure file help load monitor mtrace op ping quit request restart save set
        show ssh start telnet test traceroute exit edit delete commit rollback run top up
        """.split()),
    deny=("request system reboot", "request system halt", "request system power-off",
          "request system zeroize", "request vmhost reboot", "request vmhost halt",
          "request vmhost power-off", "request vmhost zeroize", "request system software",
          "request system snapshot", "request system power-cycle", "request chassis",
          "start shell", "op", "load", "file delete", "restart", "... scripts",
          "... event-options", "... execute-commands"),
    prefixes=(("run",),), help_key="?")

HUAWEI_VRP = Platform(
    name="huawei", label="Huawei VRP", device_types=frozenset({"huawei"}),
    words=frozenset("""
        cd check clear clock cls compare copy debugging delete dir display format ftp
        language-mode license lock mkdir more move ops ping pwd python quit reboot rename reset
        return rmdir save schedule screen-length send sftp ssh startup stelnet super
        system-view telnet terminal test-aaa tftp tracert undelete undo unzip upgrade zip
        user-interface local-user aaa interface sysname
        """.split()),
    deny=("reboot", "reset saved-configuration", "reset factory-configuration", "reset slot",
          "delete", "format", "startup", "schedule reboot", "schedule", "ops", "python",
          "undo mmi-mode", "super", "... auto-execute"),
    help_key="?", wipe=_VRP_WIPE)

HP_COMWARE = Platform(
    name="hp_comware", label="HPE Comware", device_types=frozenset({"hp_comware"}),
    words=frozenset("""
        backup boot-loader cd cfd clock copy debugging delete diagnostic-logfile dir display
        fdisk fixdisk format free ftp gunzip gzip install lock logfile md5sum mkdir more move
        mount password-recovery ping ping6 pwd python quit reboot rename reset restore rmdir
        save scheduler screen-length sftp ssh2 startup system-view tar tclsh telnet terminal
        tftp tracert undelete undo umount xtd-cli-mode _cmdline-mode alias return sysname rtm
        interface local-user
        """.split()),
    deny=("reboot", "reset saved-configuration", "restore factory-default", "delete", "format",
          "fdisk", "boot-loader", "startup saved-configuration", "scheduler", "python", "tclsh",
          "alias", "_cmdline-mode", "xtd-cli-mode", "install", "password-recovery", "rtm",
          "... auto-execute"),
    help_key="?", wipe=_VRP_WIPE)

MIKROTIK_ROUTEROS = Platform(
    name="mikrotik_routeros", label="MikroTik RouterOS",
    device_types=frozenset({"mikrotik_routeros"}),
    words=frozenset("""
        certificate console disk file import interface ip ipv6 log password ping port ppp queue
        radius routing snmp special-login system tool user export quit redo undo beep blink
        :execute :parse :delay :put :local :global :do :foreach :for :if :while :log :resolve
        reboot shutdown reset-configuration script scheduler package routerboard identity
        clock resource backup license health history note ntp upgrade downgrade
        """.split()),
    deny=("system reboot", "system shutdown", "system reset-configuration", "system script",
          "system scheduler", "system package downgrade", "system package uninstall",
          "system backup load", "system package update install", "disk format-drive",
          ":execute", ":parse", "import"),
    # Properties whose value is a script run later (netwatch, scheduler, DHCP, PPP...).
    deny_properties=("script", "down-script", "up-script", "lease-script", "on-event",
                     "on-up", "on-down", "on-error", "source"),
    menus=True, separators=";[]{}", help_key="?", rotation="mikrotik")

FORTINET = Platform(
    name="fortinet", label="Fortinet FortiOS", device_types=frozenset({"fortinet"}),
    words=frozenset("""
        config get show diagnose execute exit end tree sudo fnsysctl edit set unset next
        """.split()),
    deny=("execute reboot", "execute shutdown", "execute factoryreset", "execute factoryreset2",
          "execute factoryreset-shutdown", "execute formatlogdisk", "execute erase-disk",
          "execute disk format", "execute restore", "execute batch", "execute alias",
          "config system auto-script", "config system alias", "config system automation-action",
          "fnsysctl"),
    prefixes=(("sudo", "*"),), help_key="?")

PALOALTO_PANOS = Platform(
    name="paloalto_panos", label="Palo Alto PAN-OS", device_types=frozenset({"paloalto_panos"}),
    words=frozenset("""
        clear configure debug delete exit find grep less ls netstat ping quit request schedule
        scp set show ssh tail tcpdump telnet test tftp traceroute view-pcap run commit edit
        load save
        """.split()),
    deny=("request restart", "request shutdown", "request system private-data-reset",
          "request system software install", "debug system maintenance-mode",
          "debug software restart", "load config partial", "delete config saved"),
    prefixes=(("run",),), help_key="?")

LINUX = Platform(
    name="linux", label="Linux / VyOS / EdgeOS (bash)",
    device_types=frozenset({"linux", "vyos", "ubiquiti_edgerouter"}),
    # Ctrl-G ends any key sequence in progress (after ESC or Ctrl-X), Ctrl-C drops the line
    # in every readline mode (vi's too).
    shell=True, elevation=_SUDO, rotation="linux", wipe="\x07\x03", redraw="\x0c")

PLATFORMS: tuple[Platform, ...] = (CISCO_IOS, CISCO_NXOS, CISCO_XR, ARISTA_EOS, HP_PROCURVE,
                                   JUNIPER_JUNOS, HUAWEI_VRP, HP_COMWARE, MIKROTIK_ROUTEROS,
                                   FORTINET, PALOALTO_PANOS, LINUX)
# netmiko device type -> family, as netmiko's CLASS_MAPPER maps a type to its driver.
PLATFORM_OF: dict[str, Platform] = {t: p for p in PLATFORMS for t in p.device_types}
DEVICE_TYPES = frozenset(PLATFORM_OF)


def platform_for(device_type: str) -> Platform:
    """The family of a netmiko device type; InvalidInput for one custody does not drive."""
    try:
        return PLATFORM_OF[device_type]
    except KeyError:
        raise InvalidInput(f"device_type must be one of {', '.join(sorted(DEVICE_TYPES))} "
                           "(SSH only)", field="device_type") from None
