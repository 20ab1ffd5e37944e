"""Review in a terminal, for people working on a server over ssh: a passage at a time.

Keys: a accept, r reject (the suggestion marked ▶), 1-5 accept that suggestion of the passage,
x reject the rest of the passage, 0 no code applies to the passage, c change to another code,
+ add a code, n next (decide later), u undo, q quit. Each decision is recorded the moment the
key is confirmed.
"""

from __future__ import annotations

import sqlite3
import textwrap
from collections.abc import Callable

import click

from ..store.decisions import PENDING, DecisionError, coding
from ..store.runs import run_row
from ..textio import terminal_safe as _s
from . import actions
from .context import code_definition, nearest_confirmed, segment_context
from .queue import QueueFilter, decision_item, describe, parse_key, passage_rows, queue_page

#: the terminal reads the queue this many items at a time
PAGE = 200
KEYS = ("a", "r", "1", "2", "3", "4", "5", "x", "0", "c", "+", "n", "u", "q", "?")
HELP = "[a]ccept  [r]eject  [1-5] accept  [x] reject rest  [0] no code  [c]hange  [+]add  [n]ext  [u]ndo  [q]uit  [?]"
WIDTH = 88


def _clock(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return ""
    s = int(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _wrap(text: str, indent: str = "    ") -> str:
    return textwrap.fill(" ".join(_s(text).split()), WIDTH, initial_indent=indent, subsequent_indent=indent)


def show_item(con: sqlite3.Connection, item: object, siblings: object, position: str, blind: bool,
              coder: str, echo: Callable[[str], None] = click.echo) -> None:
    """Print one queue item: where it is, the talk around it, the scores and the code's definition."""
    row = item  # a pandas row (namedtuple-like Series)
    echo("")
    echo(click.style(f"── {position} ── {_s(row.document)} · segment {row.segment_idx}"
                     + (f" · {_clock(row.start_time)}" if _clock(row.start_time) else ""), bold=True))
    ctx = segment_context(con, int(row.segment_id), focus_chars=300, neighbour_chars=200)
    for turn in ctx.turns:
        who = _s(turn.speaker) or ("Interviewer" if turn.is_interviewer else "Participant")
        when = f" {_clock(turn.start_time)}" if turn.start_time is not None else ""
        echo(click.style(f"  {who}{when}:", fg=None if turn.focus else "bright_black", bold=turn.focus))
        if not turn.focus:
            body = "".join(p.text for p in turn.pieces)
            body = ("… " if turn.cut_before else "") + body + (" …" if turn.cut_after else "")
            echo(click.style(_wrap(body), fg="bright_black"))
            continue
        for piece in turn.pieces:
            if piece.focus:
                echo(click.style(_wrap(piece.text, "  ▶ "), bold=True))
            else:
                echo(_wrap(piece.text))
    echo("")
    echo("  suggested for this segment:")
    for number, s in enumerate(siblings.itertuples(index=False), start=1):
        mark = "▶" if s.code == row.code else " "
        state = "" if s.status == "pending" else f"  [{s.status}{' -> ' + s.changed_to if s.changed_to else ''}]"
        filled = round(s.score * 10)
        bar = "█" * filled + "·" * (10 - filled)
        echo(f"  {mark} {number}  {s.score:0.2f} {bar}  {_s(s.code)}{_s(state)}")
    mine = coding(con, coder)
    added = sorted(set(mine[mine.segment_id == row.segment_id].code) - set(siblings.code))
    if added:
        echo(f"  you also applied: {_s(', '.join(added))}")
    echo("")
    crumbs = f" ({row.meta_theme})" if row.meta_theme and row.meta_theme != row.code else ""
    echo(click.style(f"  {_s(row.code)}{_s(crumbs)}  score {row.score:0.2f}", bold=True))
    definition = code_definition(con, row.code) or {}
    if definition.get("description"):
        echo(_wrap(definition["description"]))
    if definition.get("inclusion"):
        echo(_wrap("use when: " + definition["inclusion"]))
    if definition.get("exclusion"):
        echo(_wrap("not when: " + definition["exclusion"]))
    model = run_row(con, int(row.run_id))["model_id"]
    try:
        near = nearest_confirmed(con, int(row.segment_id), row.code, model, coders=[coder] if blind else None, k=1)
    except Exception:  # the definition is enough when no embedding model is at hand
        near = None
    if near is not None and not near.empty:
        ex = near.iloc[0]
        echo(_wrap(f"nearest confirmed ({ex.similarity:0.2f}): “{ex.text}”"))


def choose_code(con: sqlite3.Connection, prompt: Callable[..., str] = click.prompt,
                echo: Callable[[str], None] = click.echo) -> str | None:
    """Ask for a code: its number in the list, its name, or a unique part of it. Blank cancels."""
    book = actions.latest_codebook(con)
    leaves = [c.code for c in book.leaves]
    current_group = None
    for i, code in enumerate(leaves, start=1):
        group = book.top_level(code)
        if group != current_group and group != code:
            echo(click.style(f"  {_s(group)}", bold=True))
            current_group = group
        echo(f"    {i:>3}  {_s(code)}")
    while True:
        answer = prompt("code (number or name, blank to cancel)", default="", show_default=False).strip()
        if not answer:
            return None
        if answer.isdigit() and 1 <= int(answer) <= len(leaves):
            return leaves[int(answer) - 1]
        if answer in leaves:
            return answer
        hits = [c for c in leaves if answer.lower() in c.lower()]
        if len(hits) == 1:
            return hits[0]
        echo(_s(f"  {'no code matches' if not hits else 'several codes match: ' + ', '.join(hits[:8])} {answer!r}"))


def terminal_review(
    con: sqlite3.Connection,
    coder: str,
    *,
    blind: bool = False,
    order: str = "uncertain",
    prompt: Callable[..., str] = click.prompt,
    echo: Callable[[str], None] = click.echo,
    queue_filter: QueueFilter | None = None,
    **filters: object,
) -> dict[str, int]:
    """Review the coder's pending suggestions one by one (those a :class:`QueueFilter`, or its
    fields as keyword arguments, selects). Returns counts of what was done."""
    cache: dict = {}
    queue_filter = (queue_filter or QueueFilter.of(order, **filters)).replace(status=PENDING)
    # the queue is read a page at a time (a run of millions of suggestions is never held whole):
    # the keys seen so far, in their order, and the next page appended when they run out
    first = queue_page(con, coder, queue_filter, limit=PAGE, cache=cache, count=True, blind=blind)
    keys = first.items.key.tolist()
    seen = set(keys)
    total = f"{'more than ' if first.capped else ''}{first.count}"
    done = {"accept": 0, "reject": 0, "change": 0, "add": 0, "undo": 0, "skipped": 0, "none": 0}

    def more() -> bool:
        """Append the view's next keys not seen yet (decisions move items out of the pending view)."""
        fresh = queue_page(con, coder, queue_filter, limit=len(seen) + PAGE, cache=cache, blind=blind).items
        new = [k for k in fresh.key if k not in seen]
        keys.extend(new)
        seen.update(new)
        return bool(new)

    def past_passage(i: int) -> int:
        """The position of the next item of another segment (a passage decided as a whole)."""
        segment = keys[i].split(":", 1)[0]
        while i < len(keys) and keys[i].split(":", 1)[0] == segment:
            i += 1
        return i

    if not keys:
        echo("Nothing pending in this queue.")
        return done
    echo(f"{total} suggestions to review as {coder}. {HELP}")
    i = 0
    while i >= 0 and (i < len(keys) or more()):
        # fresh: another coder or an undo changes them
        siblings = passage_rows(con, coder, parse_key(keys[i])[0], cache=cache, blind=blind)
        rows = siblings[siblings.key == keys[i]]
        if rows.empty:
            i += 1
            continue
        item = rows.iloc[0]
        show_item(con, item, siblings, f"{i + 1}/{total}", blind, coder, echo)
        key = prompt(HELP, type=click.Choice(KEYS), show_choices=False)
        try:
            if key in ("a", "r"):
                action = "accept" if key == "a" else "reject"
                actions.decide(con, coder, action, int(item.segment_id), item.code, run_id=int(item.run_id))
                done[action] += 1
                echo(click.style(f"  {action}ed {_s(item.code)}", fg="green" if key == "a" else "red"))
                i += 1
            elif key.isdigit() and key != "0":
                if int(key) > len(siblings):
                    echo(f"  this passage has {len(siblings)} suggestions")
                    continue
                chosen = siblings.iloc[int(key) - 1]
                actions.accept(con, coder, int(item.segment_id), chosen.code, int(chosen.run_id))
                done["accept"] += 1
                echo(click.style(f"  accepted {chosen.code}", fg="green"))
                if chosen.code == item.code:
                    i += 1
            elif key == "x":
                rejected = actions.reject_rest(con, coder, int(item.segment_id), int(item.run_id))
                done["reject"] += len(rejected)
                echo(click.style(f"  rejected the other {len(rejected)}", fg="red"))
                i = past_passage(i)
            elif key == "0":
                actions.no_code(con, coder, int(item.segment_id))
                done["none"] += 1
                echo(click.style("  no code applies", fg="red"))
                i = past_passage(i)
            elif key in ("c", "+"):
                code = choose_code(con, prompt, echo)
                if code is None:
                    echo("  cancelled")
                    continue
                if key == "c":
                    actions.change(con, coder, int(item.segment_id), item.code, code, int(item.run_id))
                    done["change"] += 1
                    echo(click.style(f"  changed {_s(item.code)} -> {_s(code)}", fg="yellow"))
                    i += 1
                else:
                    actions.add(con, coder, int(item.segment_id), code, int(item.run_id))
                    done["add"] += 1
                    echo(click.style(f"  added {_s(code)}", fg="yellow"))
            elif key == "n":
                done["skipped"] += 1
                i += 1
            elif key == "u":
                undone = actions.undo(con, coder)
                if undone.empty:
                    echo("  nothing to undo")
                    continue
                done["undo"] += 1
                last = undone.iloc[-1]
                batch = f" ({len(undone)} decisions)" if len(undone) > 1 else ""
                echo(_s(f"  undone: {describe(last)}{batch}"))
                back = decision_item(last)  # None: no segment or no code to go back to; stay here
                if back in seen:
                    i = keys.index(back)
                elif back is not None:
                    keys.insert(i, back)
                    seen.add(back)
            elif key == "?":
                echo(__doc__ or "")
            else:
                break
        except DecisionError as exc:
            echo(click.style(f"  not recorded: {_s(exc)}", fg="red"))
    decided = done["accept"] + done["reject"] + done["change"]
    echo(f"\n{decided} decided ({done['accept']} accepted, {done['reject']} rejected, {done['change']} changed), "
         f"{done['none']} passages with no code, {done['add']} added, {done['undo']} undone, "
         f"{done['skipped']} skipped.")
    return done
