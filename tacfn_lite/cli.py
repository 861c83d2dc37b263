"""Command line: ``tacfn-lite generate|train|evaluate|compare|...`` (README "Command line")."""

import argparse
import errno
import json
import logging
import os
import re
import sys
from dataclasses import replace
from pathlib import Path

from .config import MODELS, VARIANTS, VERSION, get_config, resolve_key

SHORTCUTS = {  # flag → config key
    "model": "model.model", "data": "data.name", "variant": "data.variant", "size": "data.size",
    "root": "data.root", "fold": "data.fold", "epochs": "train.epochs", "seed": "train.seed",
    "device": "train.device", "out": "train.out_dir", "direction": "model.direction",
    "batch_size": "train.batch_size", "lr": "train.lr", "amp": "train.amp",
    "audio_dropout": "model.audio_dropout", "video_dropout": "model.video_dropout"}
OPTIONS = {  # shared flags; each command adds only those that apply to it
    "preset": {"default": "tiny", "choices": ("tiny", "paper"),
               "help": "tiny: CPU; paper: GPU (default: tiny)"},
    "model": {"choices": MODELS, "help": "which model to train"},
    "data": {"choices": ("synthav", "ravdess", "cremad", "iemocap"), "help": "data set"},
    "variant": {"choices": VARIANTS, "help": "SynthAV variant"},
    "size": {"choices": ("quick", "full"), "help": "SynthAV size"},
    "root": {"help": "real corpus: a prepared folder (prepare --out), or the raw corpus root "
             "whose default prepared cache is used"},
    "fold": {"type": int, "help": "actor-independent test fold (0..5)"},
    "direction": {"choices": ("audio->video", "video->audio", "both"),
                  "help": "TACFN: which modality selects (source->target)"},
    "epochs": {"type": int, "help": "training epochs"},
    "lr": {"type": float, "help": "learning rate"},
    "seed": {"type": int, "help": "training seed (initialisation, batch order)"},
    "batch_size": {"type": int, "help": "clips per training step"},
    "audio_dropout": {"type": float, "help": "per-sample probability of zeroing the audio input"},
    "video_dropout": {"type": float, "help": "per-sample probability of zeroing the video input"},
    "device": {"help": "auto | cpu | cuda | cuda:N"},
    "amp": {"action": "store_const", "const": True,  # unset: the config's own amp
            "help": "mixed precision (fp16 on CUDA, bf16 on CPU)"},
    "out": {"help": "output folder (checkpoints, metrics)"},
    "set": {"action": "append", "default": [], "metavar": "KEY=VALUE",
            "help": "any config field, e.g. --set d_model=64 --set model.select=false"},
    "force": {"action": "store_true",
              "help": "write even when the estimated cache size exceeds the free disk space"}}
DATA = ("preset", "data", "variant", "size", "root", "fold")
DATA_HELP = {"preset": "frame and audio settings of the tiny (CPU) or paper (GPU) preset",
             "set": "any data config field, e.g. --set n_frames=30 --set data_seed=1"}
TRAIN = ("epochs", "batch_size", "lr", "device", "amp", "out", "set")
PRESET_DEFAULTS = {flag: tuple(getattr(getattr(get_config(p), key.split(".")[0]), key.split(".")[1])
                               for p in ("tiny", "paper")) for flag, key in SHORTCUTS.items()}


def _command(sub, func, help: str, *shared: str, **helps: str) -> argparse.ArgumentParser:
    """Subcommand ``cmd_check_splits`` → ``check-splits`` with the ``shared`` flags, reworded by
    ``helps`` (a help text, or a dict of argparse keywords such as ``required``)."""
    p = sub.add_parser(func.__name__.removeprefix("cmd_").replace("_", "-"), help=help)
    _global_flags(p, argparse.SUPPRESS)  # also after the command; unset: the top level's
    for name in shared:
        kw = {**OPTIONS[name], **(h if isinstance(h := helps.get(name, {}), dict) else {"help": h})}
        tiny, paper = PRESET_DEFAULTS.get(name, (None, None)) if name not in helps else (None,) * 2
        if tiny is not None:  # the config's default, which the parser itself leaves unset
            kw["help"] += f" (default: {tiny}" + (f"; --preset paper: {paper})" if paper != tiny
                                                  else ")")
        p.add_argument("--" + name.replace("_", "-"), **kw)
    p.set_defaults(func=func)
    return p


def _global_flags(p: argparse.ArgumentParser, default) -> None:
    p.add_argument("-v", "--verbose", action="store_true", default=default, help="log more")
    p.add_argument("--debug", action="store_true", default=default,
                   help="show the traceback of an error (also: TACFN_DEBUG=1)")


def config_from_args(args: argparse.Namespace, data_only: bool = False):
    """The run config of the command line; ``data_only``: ``--set`` may name data fields only."""
    overrides = {key: getattr(args, flag) for flag, key in SHORTCUTS.items()
                 if getattr(args, flag, None) is not None}
    real = getattr(args, "data", None) not in (None, "synthav")
    if real and overrides.keys() & {"data.variant", "data.size"}:  # ignored before, silently
        raise ValueError(f"--variant, --size: SynthAV's; --data {args.data} reads its --root")
    if getattr(args, "model", None) not in (None, "tacfn") and "model.direction" in overrides:
        raise ValueError(f"--direction: TACFN's; --model {args.model} has no fusion direction")
    for item in args.set:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        if data_only and not resolve_key(key).startswith("data."):
            raise ValueError(f"--set {key}: not a data field; {args.command} uses data fields "
                             "only (e.g. n_frames, data_seed, cache_dir)")
        overrides[key] = value
    cfg = get_config(args.preset, **overrides)  # data paths absolute: checkpoints work anywhere
    paths = {k: str(Path(p).absolute()) for k in ("cache_dir", "root")
             if (p := getattr(cfg.data, k))}
    return replace(cfg, data=replace(cfg.data, **paths))


# A command returns a summary that main prints as JSON, or an exit status (None: 0).
def cmd_generate(args) -> dict:
    from .data.synthetic import load_synthav, synthav_path
    data = config_from_args(args, data_only=True).data
    arrays, path = load_synthav(data, force=args.force), synthav_path(data)
    return {"cache": str(path), "megabytes": round(path.stat().st_size / 2 ** 20, 1),
            "clips": len(arrays), "audio": list(arrays.audio.shape),
            "video": list(arrays.video.shape), "actors": len(set(arrays.actors.tolist())),
            **{k: arrays.meta[k] for k in ("variant", "size", "content_hash", "ceilings")}}


def cmd_train(args) -> dict:
    from .train import train_model
    cfg = config_from_args(args)
    last = Path(cfg.train.out_dir) / "last.pt"
    if last.exists() and not (args.resume or args.overwrite):  # never replaced silently
        raise ValueError(f"{cfg.train.out_dir} holds a run already ({last.name}): --resume "
                         "continues it, --overwrite trains it again, --out DIR trains elsewhere")
    if args.resume and not last.exists():
        print(f"tacfn-lite train: {cfg.train.out_dir}: nothing to resume (no last.pt there); "
              "training from epoch 0", file=sys.stderr)
    # train_model seeds before building the model; DDP under torchrun
    _, hist = train_model(cfg, resume=args.resume)
    return {"picked_epoch": hist.best_epoch + 1, "val_accuracy": hist.val["accuracy"],  # from 1
            "test_accuracy": hist.test["accuracy"], "test_uar": hist.test["uar"],
            "test_macro_f1": hist.test["macro_f1"], "checkpoint": hist.checkpoint}


def cmd_evaluate(args) -> dict:
    from .cards import card_report
    from .checkpoints import load_model
    from .data import make_loaders
    from .io import read_json
    from .runtime import resolve_device
    from .train import SPLIT_MANIFEST, evaluate
    device = resolve_device(args.device or "auto")
    model, cfg = load_model(args.checkpoint, device)
    loaders, now = make_loaders(cfg)
    saved = Path(args.checkpoint).parent / SPLIT_MANIFEST  # written by train
    then = read_json(saved, "split manifest") if saved.is_file() else now
    if then.get("hash") != now.get("hash"):  # e.g. the corpus was prepared again since
        raise ValueError(f"{args.checkpoint}: its data changed since training (data hash "
                         f"{then.get('data')} then, {now.get('data')} now; {saved.name} differs): "
                         "evaluate on the data it was trained on, or train again")
    res = evaluate(model, loaders[args.split], device)
    summary = {"split": args.split, **{k: res[k] for k in (
        "n", "accuracy", "uar", "macro_f1", "majority_baseline", "chance_baseline", "confusion")}}
    if cfg.data.name == "iemocap":  # MulT's per-emotion binary accuracy and weighted F1
        from .data.iemocap import binary_metrics
        summary["iemocap_binary"] = binary_metrics(res["confusion"])
    print(card_report(args.checkpoint), file=sys.stderr)  # stdout: the JSON alone (| jq)
    return summary


def cmd_prepare(args) -> dict:
    from .data.media import prepare_corpus
    args.data = args.corpus
    data = config_from_args(args, data_only=True).data
    return prepare_corpus(args.corpus, args.root, args.out, data, args.strict, force=args.force)


def cmd_export(args) -> dict:
    from .data.export import export_corpus
    data = config_from_args(args, data_only=True).data
    return export_corpus(args.corpus, data, args.out, args.actors, args.per_class)


def cmd_compare(args) -> None:
    from .compare import compare, format_table
    from .io import read_json, to_jsonable, write_json
    if args.json and Path(args.json).is_dir():  # found now, not after the training
        raise ValueError(f"--json {args.json}: a folder; give a file, e.g. {args.json}/compare.json")
    models = MODELS if args.models is None else tuple(
        m.strip() for m in args.models.split(",") if m.strip())
    result = compare(config_from_args(args), models, tuple(range(args.seeds)), args.out)
    print(format_table(result))
    path = Path(args.json or Path(result["out_dir"]) / f"compare_{result['variant']}.json")
    # models compared before on the same data and training settings stay in the file
    old = read_json(path, "compare result") if path.is_file() else {}
    if all(to_jsonable(result[k]) == old.get(k) for k in ("data", "train")):
        result["models"] = {**old["models"], **result["models"]}
    write_json(path, {**result, "command": "tacfn-lite " + " ".join(sys.argv[1:])})
    print(f"saved {path} ({', '.join(result['models'])})")


def cmd_check_splits(args) -> dict:
    from .data.leakage import check_splits
    return check_splits(args.manifest)


def cmd_report(args) -> int | None:
    from .report import PATH_PARAMETERS, ReportError, ReportOptions, parse_param, run_report
    here = lambda p: p and str(Path(p).absolute())  # relative to the current folder
    params = dict(parse_param(p) for p in args.param)
    params |= {k: here(v) for k, v in params.items() if k in PATH_PARAMETERS and isinstance(v, str)}
    opts = ReportOptions(quick=args.quick, params=params, out_root=here(args.out or "reports"),
                         notebooks_dir=here(args.notebooks) or "notebooks", run_id=args.run_id,
                         cache_dir=here(ReportOptions.cache_dir),
                         figures_dir=here(args.figures_dir), update_figures=args.update_figures,
                         checkpoint_dir=here(args.checkpoint_dir),
                         only=tuple(args.only.split(",")) if args.only else ())
    try:
        run_dir = run_report(opts)
    except ReportError as exc:
        print(f"tacfn-lite report: notebook failed: {exc}", file=sys.stderr)
        return 1
    print(f"report: {run_dir / 'index.html'}\nrun.json: {run_dir / 'run.json'}")


def cmd_predict(args) -> None:
    from .inference import predict
    from .runtime import resolve_device
    from .viz import explain_prediction
    args.device = str(resolve_device(args.device or "auto"))
    if args.explain and Path(args.explain).is_file():  # found now, not after the prediction
        raise ValueError(f"--explain {args.explain}: a file; give a folder for the figures")
    pred = predict(args.clip, args.checkpoint, audio=args.audio, landmarks=args.landmarks,
                   device=args.device, allow_centre_crop=args.centre_crop)
    print(json.dumps(pred.to_dict(), indent=1) if args.json else pred.format())
    if args.explain:
        for path in explain_prediction(pred, args.checkpoint, args.explain, device=args.device):
            print(f"wrote {path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tacfn-lite", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tacfn-lite {VERSION}")
    _global_flags(parser, False)
    sub = parser.add_subparsers(dest="command", required=True)
    _command(sub, cmd_generate, "generate (and cache) a SynthAV set; print its summary",
             "preset", "variant", "size", "set", "force", **DATA_HELP)
    p = _command(sub, cmd_train, "train one model; writes checkpoints and metrics", *DATA,
                 "model", "direction", "seed", "audio_dropout", "video_dropout", *TRAIN)
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--overwrite", action="store_true", help="train again in an OUT that holds a run")
    p = _command(sub, cmd_evaluate, "evaluate a checkpoint on its own data split", "device")
    p.add_argument("checkpoint")
    p.add_argument("--split", default="test", choices=("train", "val", "test"),
                   help="which split of the checkpoint's own actor split (default: test)")
    p = _command(sub, cmd_prepare, "decode a real corpus into a cached shard set (--root RAW)",
                 "preset", "out", "set", "force", **DATA_HELP, out="the prepared cache folder "
                 "(default: under cache_dir, keyed by --root and the frame/audio settings)")
    p.add_argument("corpus", choices=("ravdess", "cremad", "iemocap"), help="layout of --root")
    p.add_argument("--root", required=True, help="folder of the raw corpus as downloaded")
    p.add_argument("--strict", action="store_true", help="stop at the first bad file")
    p = _command(sub, cmd_export, "write a SynthAV set in a real corpus layout (--out DIR)",
                 "preset", "variant", "size", "out", "set", **DATA_HELP,
                 out={"help": "folder to write the corpus tree into", "required": True})
    p.add_argument("corpus", choices=("ravdess", "cremad"))
    p.add_argument("--actors", type=int, default=24, help="actors 1..N")
    p.add_argument("--per-class", type=int, default=1, help="clips per actor and class")
    p = _command(sub, cmd_compare, "train every model on the same splits/seeds; one table",
                 *DATA, *TRAIN, out="folder for the runs (default runs/compare/<variant>-<size>)")
    p.add_argument("--models", help="comma-separated subset of " + ",".join(MODELS))
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (0..N-1)")
    p.add_argument("--json", help="where to save the result (default OUT/compare_<variant>.json; "
                   "the README's tables read bench/results/compare_<variant>.json)")
    p = _command(sub, cmd_check_splits, "fail if train/val/test share an actor, utterance, clip "
                 "or identical content")
    p.add_argument("manifest", help="split manifest JSON (e.g. OUT/split_manifest.json)")
    p = _command(sub, cmd_predict, "class probabilities for your own clip (the checkpoint's own "
                 "preprocessing)", "device")
    p.add_argument("clip", help="video file with a face (and an audio track unless --audio)")
    p.add_argument("--checkpoint", required=True, help="best.pt written by train")
    p.add_argument("--audio", help="separate audio file (e.g. the RAVDESS 03- wav)")
    p.add_argument("--landmarks", help="OpenFace CSV (default: <clip>.csv next to the clip)")
    p.add_argument("--centre-crop", action="store_true",
                   help="accept a centre crop when no face is found")
    p.add_argument("--explain", metavar="DIR", help="write attention-map and Captum figures here")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = _command(sub, cmd_report, "run every notebook (papermill) into reports/<run-id>/")
    p.add_argument("--quick", action="store_true", help="quick data and epochs (CI, teaching)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="notebook parameter for every notebook, e.g. --param variant=synchrony")
    p.add_argument("--out", help="folder for report runs (default reports)")
    p.add_argument("--notebooks", help="folder of NN_*.ipynb (default: the installed kit's)")
    p.add_argument("--run-id", help="name of the run folder (default: date-time)")
    p.add_argument("--figures-dir", help="where notebooks save figures (default: RUN/figures)")
    p.add_argument("--update-figures", action="store_true",
                   help="after a successful run, copy its figures into the repository's figures/")
    p.add_argument("--checkpoint-dir", help="reuse checkpoints here (default: fresh, in the run)")
    p.add_argument("--only", help="comma-separated notebook numbers, e.g. 00,04")
    return parser


FIXES = {  # errno → what to do; {where}: the command's own folder options
    errno.ENOSPC: "free some space or choose another folder, then rerun",
    errno.EROFS: "the folder is read-only: choose a writable one ({where})",
    errno.EACCES: "choose a folder you may write to ({where})",
    errno.ENOENT: "it is missing (moved or deleted while running?): check the path and rerun",
    errno.EEXIST: "a file stands where a folder is needed: choose a folder ({where})"}
WHERE = {  # each command's own options for where it writes; others: pick another path
    "generate": "--set cache_dir=DIR", "train": "--out, --set cache_dir=DIR",
    "prepare": "--out, --set cache_dir=DIR", "export": "--out", "compare": "--out, --json",
    "report": "--out", "predict": "--explain DIR"}
RERUN = {"train": "`train --resume` continues after the last finished epoch (if any finished)",
         "report": "index.html in the run folder shows the notebooks that ran",
         "prepare": "a rerun reuses the finished shards (--force skips the space check)",
         "generate": "--force skips the space check"}


def error_line(exc: OSError, command: str) -> str:
    """One line for an OS-level failure: the path, what went wrong, what to do."""
    code = {errno.EPERM: errno.EACCES, errno.EDQUOT: errno.ENOSPC,
            errno.ENOTDIR: errno.EEXIST}.get(exc.errno, exc.errno)
    fix = FIXES.get(code, "check the path and the disk, then rerun (--debug shows the traceback)")
    fix = fix.format(where=WHERE.get(command, "another path"))
    if code == errno.ENOSPC and command in RERUN:
        fix += "; " + RERUN[command]
    what = " ".join((exc.strerror or str(exc)).split())
    return f"{exc.filename or '(no path)'}: {what}; {fix}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        result = args.func(args)
        if isinstance(result, dict):
            text = json.dumps(result, indent=1)  # number lists (a confusion matrix): one line each
            print(re.sub(r'\[[^][{}"]*\]', lambda m: " ".join(m[0].split()), text))
        return result if isinstance(result, int) else 0
    except BrokenPipeError:  # the reader went away (`... | head`): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:  # its traceback says nothing, --debug or not
        rerun = f"; {RERUN[args.command]}" if args.command in RERUN else ""
        print(f"tacfn-lite {args.command}: interrupted{rerun}", file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:
        if args.debug or os.environ.get("TACFN_DEBUG", "0") not in ("", "0"):
            raise
        text = error_line(exc, args.command) if isinstance(exc, OSError) else exc
        print(f"tacfn-lite {args.command}: error: {text}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1


if __name__ == "__main__":
    sys.exit(main())
