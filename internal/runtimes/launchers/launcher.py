"""Gust's Python launcher: the action loop.

One JSON request per line on stdin, one JSON reply per line on fd 3, logs on
stdout/stderr ended by a sentinel on both. The first line is OpenWhisk's /init
body; every other line is a /run body. Self-contained: standard library only.
"""
import importlib.machinery
import importlib.util
import json
import os
import sys

# Modules only some inits need (zipfile, base64, traceback, ...) are imported
# where they are used: a stem cell boots in a third less time without them.

SENTINEL = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n"
MAX_UNZIPPED = 1 << 30

# Line buffering: a print reaches the pipe when it ends its line, so what a
# function printed before a timeout or a crash is not lost in a buffer, and a
# print is one write, not one per argument.
for _s in (sys.stdout, sys.stderr):
    _s.reconfigure(line_buffering=True, errors="backslashreplace")

# Programs the function starts must not write on the reply pipe.
os.set_inheritable(3, False)

main = None


def write_reply(obj):
    try:
        data = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except Exception as ex:  # a result that is not JSON
        data = json.dumps({"error": "An error has occurred: %s" % ex})
    view = memoryview((data + "\n").encode("utf-8", "backslashreplace"))
    while view:
        view = view[os.write(3, view):]


def markers():
    # Flush what the function may have wrapped or replaced, then mark the end
    # on the real streams.
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except Exception:
            pass
    for s in (sys.__stdout__, sys.__stderr__):
        s.write(SENTINEL)
        s.flush()


def work_dir():
    """A private directory for the action's files: the sandbox's working
    directory when it is writable, else the temporary directory."""
    for base in (os.getcwd(), os.environ.get("TMPDIR") or "/tmp"):
        for i in range(100):
            path = os.path.join(base, "action-%d-%d" % (os.getpid(), i))
            try:
                os.mkdir(path, 0o700)
                return path
            except FileExistsError:
                continue
            except OSError:
                break
    raise OSError("no writable directory for the action")


def load_module(path, directory):
    # The module is named main__ as in OpenWhisk, so a guarded
    # `if __name__ == "__main__"` block does not run at init.
    sys.path.insert(0, directory)
    loader = importlib.machinery.SourceFileLoader("main__", path)
    spec = importlib.util.spec_from_loader("main__", loader)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["main__"] = mod
    loader.exec_module(mod)
    return mod


def load_zip(b64, directory):
    import base64
    import glob
    import io
    import site
    import zipfile

    with zipfile.ZipFile(io.BytesIO(base64.b64decode(b64))) as z:
        if sum(i.file_size for i in z.infolist()) > MAX_UNZIPPED:
            raise ValueError("The action archive is too large once uncompressed.")
        z.extractall(directory)  # drops absolute paths and '..'
    # A virtualenv shipped in the zip, as OpenWhisk's runtime accepts it.
    for sp in glob.glob(os.path.join(directory, "virtualenv", "lib", "python*", "site-packages")):
        site.addsitedir(sp)
    for name in ("exec", "__main__.py"):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            os.chdir(directory)
            return load_module(path, directory)
    raise ValueError("Zip file does not include mandatory files.")


def init(msg):
    global main
    v = msg.get("value") or {}
    for k, val in (v.get("env") or {}).items():
        os.environ[k] = val if isinstance(val, str) else ("" if val is None else json.dumps(val))
    name = v.get("main") or "main"
    code = v.get("code")
    if not isinstance(code, str) or not code:
        return {"error": "Missing main/no code to execute."}
    try:
        directory = work_dir()
        if v.get("binary"):
            mod = load_zip(code, directory)
        else:
            path = os.path.join(directory, "main__.py")
            with open(path, "w", encoding="utf-8") as f:
                f.write(code)
            mod = load_module(path, directory)
        fn = getattr(mod, name, None)
        if not callable(fn):
            raise ValueError("Action entrypoint '%s' is not a function." % name)
        main = fn
        return {"ok": True}
    except BaseException as ex:  # SystemExit from module code too
        import traceback

        traceback.print_exc()
        msg = "".join(traceback.format_exception_only(type(ex), ex)).strip()
        return {"error": "Initialization has failed due to: " + msg}


# Variables whose value is new at every activation. Assigning them through
# os.environ calls setenv, and glibc keeps every distinct value setenv was
# ever given: a warm sandbox grew by ~100 bytes per activation until it ran
# out of memory. They go into os.environ's mapping only, so the function sees
# them (os.environ, os.getenv) but processes it starts do not.
VOLATILE = {"activation_id", "transaction_id", "deadline"}


def run(msg):
    env = os.environ
    for k, val in msg.items():
        if k != "value" and isinstance(val, str):
            name = "__OW_" + k.upper()
            if k in VOLATILE:
                env._data[env.encodekey(name)] = env.encodevalue(val)
            elif env.get(name) != val:
                env[name] = val
    value = msg.get("value")
    try:
        res = main({} if value is None else value)
    except Exception as ex:
        # OpenWhisk's Python runtime: the traceback to the logs, the message
        # as the error.
        import traceback

        print(traceback.format_exc(), file=sys.stderr)
        return {"error": str(ex)}
    if not isinstance(res, (dict, list)):
        return {"error": "The action did not return a dictionary or array."}
    return res


def loop():
    first = True
    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            return
        try:
            msg = json.loads(line)
        except ValueError as ex:
            markers()
            write_reply({"error": "The request is not valid JSON: %s" % ex})
            continue
        if first:
            first = False
            res = init(msg)
        elif main is None:
            res = {"error": "No action was initialized."}
        else:
            res = run(msg)
        # Logs end before the result: the platform waits for both, and
        # finding the sentinels already read when the result arrives saves it
        # wake-ups.
        markers()
        write_reply(res)


# Booted: say so when the platform waits for it (a stem cell in a pool).
if os.environ.get("__OW_WAIT_FOR_ACK"):
    write_reply({"ok": True})
loop()
