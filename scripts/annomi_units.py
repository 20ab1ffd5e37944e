"""AnnoMI as an evaluation set: a codebook and long-format coded units for `nlp-theming evaluate`.

AnnoMI (Wu et al., ICASSP 2022; Future Internet 15(3):110, 2023; https://github.com/uccollab/AnnoMI)
holds 133 transcribed demonstrations of motivational interviewing (MI). AnnoMI-full.csv has one row
per utterance and annotator; seven transcripts were annotated by all ten annotators (ids 0-9), the
others by one annotator each. Every therapist utterance carries one main therapist behaviour and
every client utterance one client talk type, which we use as the utterance's code:

* therapist behaviours: question, reflection, therapist input, other;
* client talk types: change, neutral, sustain.

Outputs:

* ``--codebook``: code, description, group (the code descriptions below paraphrase the AnnoMI
  README's column definitions and the usual meaning of the MI terms; they are ours, not AnnoMI's);
* ``--units``: unit_id, document, coder, text, codes (codes joined by ' | '), one row per utterance
  and annotator, coder = "annotator-<id>", document = "annomi-<transcript_id>". Rows keep the file's
  order, so the reference coder of `evaluate` (the first coder in the file) is the annotator of
  transcript 0; `evaluate --coder` picks another. Utterances coded by several annotators give
  `evaluate` its human ceiling.

The unit text is the utterance as transcribed. Who said it goes in the optional context columns, as
``coded-units`` writes them for a project: ``speaker`` (therapist or client), ``role`` (the
therapist as interviewer, the client as participant) and ``position`` (the utterance's number), so
the matcher can use the speaker and the turn before itself (``evaluate --context``). Pass
``--speaker-prefix`` to prepend "therapist: " or "client: " to the text instead, the old way of
showing how much knowing the speaker helps.

Usage: python scripts/annomi_units.py [AnnoMI-full.csv] --codebook annomi_codebook.csv --units annomi_units.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from nlp_theming.exchange.coded import write_coded_units_csv

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "annomi" / "AnnoMI-full.csv"
SOURCE = "paraphrased from the AnnoMI README (github.com/uccollab/AnnoMI) and Wu et al. 2022/2023"

THERAPIST, CLIENT = "Therapist behaviour", "Client talk type"
ROLES = {"therapist": "interviewer", "client": "participant"}  # in the terms of an interview
# AnnoMI label -> (our code, group, description)
CODES: dict[tuple[str, str], tuple[str, str, str]] = {
    ("main_therapist_behaviour", "question"): (
        "Question", THERAPIST,
        "The counsellor asks the client something: an open question inviting the client to tell more in their "
        "own words, or a closed question that can be answered briefly, yes or no or with a fact."),
    ("main_therapist_behaviour", "reflection"): (
        "Reflection", THERAPIST,
        "The counsellor mirrors back what the client has said or seems to mean: a simple reflection repeats or "
        "rephrases the client's words, a complex reflection adds meaning, feeling or an inferred point."),
    ("main_therapist_behaviour", "therapist_input"): (
        "Therapist input", THERAPIST,
        "The counsellor contributes something of their own: gives information, offers advice, negotiates what "
        "to do or talk about next, or lays out options the client could choose between."),
    ("main_therapist_behaviour", "other"): (
        "Other therapist utterance", THERAPIST,
        "A counsellor utterance that is not mainly a question, a reflection or input: greetings, thanks, "
        "affirmations, short acknowledgements such as okay or mm-hmm, small talk and session management."),
    ("client_talk_type", "change"): (
        "Change talk", CLIENT,
        "The client speaks in favour of changing the target behaviour (drinking, smoking, diet, medication and "
        "so on): reasons, desire, ability, need or commitment to change, or steps already taken towards it."),
    ("client_talk_type", "neutral"): (
        "Neutral talk", CLIENT,
        "The client says something that leans neither towards nor away from change: facts about their life, "
        "answers to questions, agreement tokens and other talk not about changing the behaviour."),
    ("client_talk_type", "sustain"): (
        "Sustain talk", CLIENT,
        "The client speaks in favour of keeping the current behaviour: reasons it is fine or enjoyable, "
        "doubts that change is needed or possible, reluctance or resistance to changing."),
}


def codebook_frame() -> pd.DataFrame:
    rows = [(code, description, group, SOURCE) for code, group, description in CODES.values()]
    return pd.DataFrame(rows, columns=["code", "description", "group", "source"])


def units_frame(annomi: pd.DataFrame, speaker_prefix: bool = False) -> pd.DataFrame:
    """One row per utterance and annotator with the utterance's code (long format for evaluate)."""
    rows = []
    for r in annomi.itertuples(index=False):
        column = "main_therapist_behaviour" if r.interlocutor == "therapist" else "client_talk_type"
        label = str(getattr(r, column))
        if (column, label) not in CODES:
            raise ValueError(f"transcript {r.transcript_id} utterance {r.utterance_id}: unexpected {column} {label!r}")
        text = " ".join(str(r.utterance_text).split())
        if speaker_prefix:
            text = f"{r.interlocutor}: {text}"
        rows.append((f"{r.transcript_id}-{r.utterance_id:04d}", f"annomi-{r.transcript_id:03d}",
                     f"annotator-{r.annotator_id}", text, [CODES[(column, label)][0]], r.interlocutor,
                     ROLES[r.interlocutor], int(r.utterance_id)))
    return pd.DataFrame(rows, columns=["unit_id", "document", "coder", "text", "codes", "speaker", "role", "position"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv", nargs="?", type=Path, default=DEFAULT, help="AnnoMI-full.csv")
    ap.add_argument("--codebook", type=Path, required=True, help="codebook CSV to write")
    ap.add_argument("--units", type=Path, required=True, help="coded units CSV to write")
    ap.add_argument("--speaker-prefix", action="store_true", help='prepend "therapist: " / "client: " to the text')
    args = ap.parse_args(argv)

    # keep_default_na=False: the file writes "n/a" for labels that do not apply, which is not missing data
    annomi = pd.read_csv(args.csv, keep_default_na=False)
    units = units_frame(annomi, args.speaker_prefix)
    for path in (args.codebook, args.units):
        path.parent.mkdir(parents=True, exist_ok=True)
    codebook_frame().to_csv(args.codebook, index=False)
    write_coded_units_csv(units, args.units)
    multi = units.groupby(["document", "unit_id"]).coder.nunique()
    print(f"{args.csv}: {len(units)} rows, {len(multi)} utterances in {units.document.nunique()} transcripts, "
          f"{units.coder.nunique()} annotators; {int((multi > 1).sum())} utterances coded by more than one")
    print(f"wrote {args.codebook} ({len(CODES)} codes) and {args.units}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
