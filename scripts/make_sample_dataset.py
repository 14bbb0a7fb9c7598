"""Write tuitune's bundled sample dataset, `tuitune/data/sample/sample.jsonl`.

The dataset is written for this project (no third-party text): a few hundred alpaca-style
instruction examples in short task families whose answers follow regular patterns, so a tiny model
fine-tuned for a few seconds visibly lowers its loss and raises ROUGE on prompts like them.
Everything is deterministic: the same script writes the same bytes on every machine.

    python scripts/make_sample_dataset.py            # rewrite the bundled file
    python scripts/make_sample_dataset.py --check    # exit 1 if the bundled file is out of date
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "tuitune" / "data" / "sample" / "sample.jsonl"
SEED = 20240601

Example = dict[str, str]


def ex(instruction: str, output: str, input: str = "") -> Example:
    return {"instruction": instruction, "input": input, "output": output}


# --- short explanations: ML, fine-tuning, terminals -----------------------------------------------
CONCEPTS: list[tuple[str, str]] = [
    (
        "a language model",
        "A language model is a program that predicts the next token of a text from the tokens before it. Repeating that prediction lets it write whole sentences.",
    ),
    (
        "fine-tuning",
        "Fine-tuning is training a model that was already trained on a large corpus for a little longer on a smaller dataset, so it learns a specific task or style.",
    ),
    (
        "LoRA",
        "LoRA trains two small low-rank matrices next to each frozen weight matrix instead of the weights themselves. It needs far less memory than full fine-tuning and the result is a small adapter file.",
    ),
    (
        "QLoRA",
        "QLoRA is LoRA on top of a base model whose weights are stored in 4-bit precision. It lets a large model be fine-tuned on a single GPU.",
    ),
    (
        "a tokenizer",
        "A tokenizer splits text into tokens, small pieces such as words or parts of words, and maps each token to an integer id the model can read.",
    ),
    (
        "a token",
        "A token is the unit of text a model reads and writes. It can be a whole word, part of a word, a space or a punctuation mark.",
    ),
    (
        "the learning rate",
        "The learning rate sets how large a step the optimizer takes after each batch. Too high and training diverges; too low and it learns slowly.",
    ),
    (
        "an epoch",
        "An epoch is one full pass over the training data. Training for three epochs means every example is seen three times.",
    ),
    (
        "a batch",
        "A batch is a group of examples processed together in one training step. Larger batches give smoother gradients but use more memory.",
    ),
    (
        "the loss",
        "The loss is a number that measures how wrong the model's predictions are. Training tries to make it smaller.",
    ),
    (
        "overfitting",
        "Overfitting happens when a model memorises its training data and does worse on new data. A validation loss that rises while the training loss falls is the usual sign.",
    ),
    (
        "a validation set",
        "A validation set is a part of the data held out from training. Measuring the loss on it shows whether the model generalises.",
    ),
    (
        "gradient descent",
        "Gradient descent improves a model by moving its weights a small step in the direction that lowers the loss, over and over.",
    ),
    (
        "a gradient",
        "A gradient tells how much the loss would change if each weight changed a little. The optimizer uses it to decide which way to move the weights.",
    ),
    (
        "the AdamW optimizer",
        "AdamW is an optimizer that adapts the step size of every weight from running averages of its gradients, and applies weight decay separately from the update.",
    ),
    (
        "gradient checkpointing",
        "Gradient checkpointing saves memory by keeping only some activations during the forward pass and recomputing the rest during the backward pass. It trades speed for memory.",
    ),
    (
        "gradient accumulation",
        "Gradient accumulation adds up the gradients of several small batches before one optimizer step. It gives the effect of a larger batch without the memory cost.",
    ),
    (
        "quantization",
        "Quantization stores model weights with fewer bits, for example 8 or 4 bits instead of 16. The model gets smaller and uses less memory, at a small cost in accuracy.",
    ),
    (
        "an adapter",
        "An adapter is a small set of extra weights trained on top of a frozen base model. It can be saved, shared and merged into the base model later.",
    ),
    (
        "merging an adapter",
        "Merging an adapter adds the adapter's trained weights into the base model's weights, so the result is one ordinary model that needs no adapter library.",
    ),
    (
        "a chat template",
        "A chat template is the exact text format a chat model expects, with markers for where each user and assistant message starts and ends.",
    ),
    (
        "perplexity",
        "Perplexity is the exponential of the average loss on a text. Lower perplexity means the model finds the text less surprising.",
    ),
    (
        "the ROUGE score",
        "ROUGE measures how many words or word sequences a generated text shares with a reference text. It is often used to score summaries.",
    ),
    (
        "the BLEU score",
        "BLEU measures how many short word sequences of a generated text also appear in a reference text. It was made for scoring machine translation.",
    ),
    (
        "a checkpoint",
        "A checkpoint is a saved copy of the model and optimizer state during training. Training can resume from it after a crash.",
    ),
    (
        "the context length",
        "The context length is the largest number of tokens a model can read at once. Longer inputs must be cut or split.",
    ),
    (
        "padding",
        "Padding adds filler tokens to shorter sequences so every sequence in a batch has the same length. The loss ignores those tokens.",
    ),
    (
        "an embedding",
        "An embedding is a list of numbers that represents a token or a text. Similar meanings get similar lists of numbers.",
    ),
    (
        "attention",
        "Attention lets each token in a sequence look at the other tokens and decide which of them matter for predicting the next one.",
    ),
    (
        "a GPU",
        "A GPU is a processor with thousands of small cores that run many calculations in parallel, which makes training neural networks much faster than on a CPU.",
    ),
    (
        "VRAM",
        "VRAM is the memory on a graphics card. The model weights, gradients, optimizer states and activations must all fit in it during training.",
    ),
    (
        "mixed precision training",
        "Mixed precision training does most calculations in 16-bit numbers and keeps a few sensitive values in 32-bit. It is faster and uses less memory.",
    ),
    (
        "weight decay",
        "Weight decay pulls the weights slightly towards zero at every step. It is a simple way to keep a model from overfitting.",
    ),
    (
        "a warmup",
        "A warmup raises the learning rate slowly from zero over the first steps of training, which keeps the early updates from being too large.",
    ),
    (
        "a terminal",
        "A terminal is a text window where you type commands and read their output, instead of clicking on buttons.",
    ),
    (
        "SSH",
        "SSH is a secure way to log in to another computer over the network and run commands on it from your own terminal.",
    ),
    (
        "tmux",
        "tmux is a terminal multiplexer. It keeps your programs running on a server after you disconnect, and lets you split one terminal into several panes.",
    ),
    (
        "an environment variable",
        "An environment variable is a named value that a program inherits from the shell that started it, such as PATH or HOME.",
    ),
    (
        "a virtual environment",
        "A Python virtual environment is a folder with its own interpreter and packages, so one project's dependencies do not clash with another's.",
    ),
    (
        "the PATH variable",
        "PATH is an environment variable listing the folders where the shell looks for programs when you type a command name.",
    ),
    ("a process", "A process is a running program. It has its own memory and an id number called the pid."),
    (
        "a JSON file",
        "A JSON file stores data as text using objects in curly braces, lists in square brackets, strings, numbers, true, false and null.",
    ),
    (
        "a JSONL file",
        "A JSONL file holds one JSON object per line. It is easy to append to and to read one record at a time.",
    ),
    ("a CSV file", "A CSV file is a table saved as text, with one row per line and the values separated by commas."),
    (
        "git",
        "git is a version control system. It records every change to a set of files so you can compare versions and go back to an earlier one.",
    ),
    (
        "a random seed",
        "A random seed is the starting number of a random number generator. Using the same seed makes a program produce the same random choices every time.",
    ),
]
CONCEPT_PROMPTS = ["What is {}?", "Explain {} in one or two sentences.", "Briefly describe {}."]


def concept_examples(rng: random.Random) -> list[Example]:
    rows = []
    for topic, answer in CONCEPTS:
        template = rng.choice(CONCEPT_PROMPTS)
        rows.append(ex(template.format(topic), answer))
    return rows


# --- arithmetic word problems with worked answers --------------------------------------------------
NAMES = [
    "Ana",
    "Ben",
    "Chen",
    "Dara",
    "Eli",
    "Fatima",
    "Gus",
    "Hana",
    "Ivan",
    "Jade",
    "Kofi",
    "Lena",
    "Mateo",
    "Nora",
    "Omar",
    "Priya",
]
ITEMS = ["apples", "books", "marbles", "stickers", "pencils", "cookies", "stamps", "shells"]


def arithmetic_examples(rng: random.Random) -> list[Example]:
    rows: list[Example] = []
    for _ in range(22):
        name, item = rng.choice(NAMES), rng.choice(ITEMS)
        a, b = rng.randint(3, 40), rng.randint(2, 30)
        rows.append(
            ex(
                f"{name} has {a} {item} and gets {b} more. How many {item} does {name} have now?",
                f"{name} starts with {a} {item} and gets {b} more, so {a} + {b} = {a + b}. {name} has {a + b} {item} now.",
            )
        )
    for _ in range(20):
        name, item = rng.choice(NAMES), rng.choice(ITEMS)
        a = rng.randint(15, 60)
        b = rng.randint(2, a - 3)
        rows.append(
            ex(
                f"{name} had {a} {item} and gave away {b}. How many {item} are left?",
                f"{name} had {a} {item} and gave away {b}, so {a} - {b} = {a - b}. There are {a - b} {item} left.",
            )
        )
    for _ in range(16):
        item = rng.choice(ITEMS)
        boxes, per = rng.randint(2, 9), rng.randint(3, 12)
        rows.append(
            ex(
                f"There are {boxes} boxes with {per} {item} in each box. How many {item} are there in total?",
                f"Each of the {boxes} boxes holds {per} {item}, so {boxes} x {per} = {boxes * per}. There are {boxes * per} {item} in total.",
            )
        )
    for _ in range(12):
        item = rng.choice(ITEMS)
        friends, each = rng.randint(2, 8), rng.randint(2, 9)
        total = friends * each
        rows.append(
            ex(
                f"{total} {item} are shared equally among {friends} friends. How many {item} does each friend get?",
                f"{total} {item} shared among {friends} friends is {total} / {friends} = {each}. Each friend gets {each} {item}.",
            )
        )
    for _ in range(20):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        op = rng.choice(["+", "-", "x"])
        if op == "-" and b > a:
            a, b = b, a
        value = a + b if op == "+" else a - b if op == "-" else a * b
        rows.append(ex(f"What is {a} {op} {b}?", f"{a} {op} {b} = {value}."))
    return rows


# --- unit conversions ------------------------------------------------------------------------------
def conversion_examples(rng: random.Random) -> list[Example]:
    rows: list[Example] = []
    simple = [
        ("kilometers", "meters", 1000),
        ("meters", "centimeters", 100),
        ("hours", "minutes", 60),
        ("minutes", "seconds", 60),
        ("kilograms", "grams", 1000),
        ("liters", "milliliters", 1000),
        ("days", "hours", 24),
        ("weeks", "days", 7),
        ("gigabytes", "megabytes", 1000),
    ]
    for _ in range(30):
        src, dst, factor = rng.choice(simple)
        n = rng.randint(2, 15)
        rows.append(
            ex(
                f"Convert {n} {src} to {dst}.",
                f"There are {factor} {dst} in one {src[:-1]}, so {n} {src} is {n} x {factor} = {n * factor} {dst}.",
            )
        )
    for _ in range(10):
        c = rng.choice(range(-20, 45, 5))
        f = c * 9 // 5 + 32
        rows.append(
            ex(
                f"Convert {c} degrees Celsius to Fahrenheit.",
                f"Multiply by 9/5 and add 32: {c} x 9/5 + 32 = {f}. So {c} degrees Celsius is {f} degrees Fahrenheit.",
            )
        )
    return rows


# --- sentiment -------------------------------------------------------------------------------------
POSITIVE = [
    "The battery lasts all day and the screen is bright.",
    "I loved this book and read it in one evening.",
    "The staff were friendly and the food arrived quickly.",
    "Setup took two minutes and everything just worked.",
    "Great value for the price, I would buy it again.",
    "The hotel room was clean, quiet and comfortable.",
    "This is the best coffee I have had in months.",
    "The course was clear, practical and fun.",
    "My order came early and was packed with care.",
    "The new update made the app much faster.",
    "The concert was wonderful from start to finish.",
    "These shoes are light and very comfortable.",
    "The tutorial explained everything I needed.",
    "Our guide was funny and knew a lot about the city.",
    "The keyboard feels solid and the keys are quiet.",
    "I am really happy with how the photos turned out.",
    "The support team fixed my problem in an hour.",
    "A lovely film with a warm and clever story.",
]
NEGATIVE = [
    "The package arrived broken and nobody answered my emails.",
    "The battery died after two hours.",
    "The food was cold and the waiter was rude.",
    "I waited forty minutes and the bus never came.",
    "The app crashes every time I open the settings.",
    "The instructions were confusing and parts were missing.",
    "This chair started squeaking after one week.",
    "The room smelled of smoke and the sheets were dirty.",
    "Far too expensive for such poor quality.",
    "The film was slow, long and boring.",
    "The charger stopped working after a few days.",
    "The update deleted all of my saved notes.",
    "The shirt shrank the first time I washed it.",
    "The sound keeps cutting out during calls.",
    "I regret buying this blender, it leaks everywhere.",
    "The delivery was three weeks late.",
    "The seats were uncomfortable and the show started late.",
    "The laptop gets hot and the fan is very loud.",
]
SENTIMENT_PROMPTS = [
    "Classify the sentiment of this review as Positive or Negative.",
    "Is the following review positive or negative?",
]


def sentiment_examples(rng: random.Random) -> list[Example]:
    rows = [ex(rng.choice(SENTIMENT_PROMPTS), "Positive", text) for text in POSITIVE]
    rows += [ex(rng.choice(SENTIMENT_PROMPTS), "Negative", text) for text in NEGATIVE]
    return rows


# --- capitals and facts ----------------------------------------------------------------------------
CAPITALS = [
    ("France", "Paris"),
    ("Germany", "Berlin"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Portugal", "Lisbon"),
    ("Japan", "Tokyo"),
    ("China", "Beijing"),
    ("India", "New Delhi"),
    ("Egypt", "Cairo"),
    ("Kenya", "Nairobi"),
    ("Canada", "Ottawa"),
    ("Mexico", "Mexico City"),
    ("Brazil", "Brasilia"),
    ("Argentina", "Buenos Aires"),
    ("Peru", "Lima"),
    ("Chile", "Santiago"),
    ("Australia", "Canberra"),
    ("Norway", "Oslo"),
    ("Sweden", "Stockholm"),
    ("Finland", "Helsinki"),
    ("Denmark", "Copenhagen"),
    ("Poland", "Warsaw"),
    ("Greece", "Athens"),
    ("Ireland", "Dublin"),
    ("Austria", "Vienna"),
    ("Hungary", "Budapest"),
    ("Russia", "Moscow"),
    ("South Korea", "Seoul"),
    ("Thailand", "Bangkok"),
    ("Vietnam", "Hanoi"),
    ("Indonesia", "Jakarta"),
    ("Turkey", "Ankara"),
    ("Morocco", "Rabat"),
    ("Nigeria", "Abuja"),
    ("Ghana", "Accra"),
    ("Cuba", "Havana"),
    ("the United Kingdom", "London"),
    ("the Netherlands", "Amsterdam"),
    ("Belgium", "Brussels"),
    ("Switzerland", "Bern"),
]
FACTS: list[tuple[str, str]] = [
    ("How many days are there in a week?", "There are seven days in a week."),
    ("How many minutes are there in an hour?", "There are sixty minutes in an hour."),
    (
        "What is the boiling point of water at sea level in degrees Celsius?",
        "Water boils at 100 degrees Celsius at sea level.",
    ),
    ("What is the freezing point of water in degrees Celsius?", "Water freezes at 0 degrees Celsius."),
    ("Which planet is closest to the Sun?", "Mercury is the planet closest to the Sun."),
    ("What is the largest planet in the solar system?", "Jupiter is the largest planet in the solar system."),
    ("How many continents are there?", "There are seven continents."),
    ("What gas do plants take in from the air to make food?", "Plants take in carbon dioxide from the air."),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("How many sides does a hexagon have?", "A hexagon has six sides."),
    ("What is the chemical formula for water?", "The chemical formula for water is H2O."),
    ("Which ocean is the largest?", "The Pacific Ocean is the largest ocean."),
    ("How many bits are there in a byte?", "There are eight bits in a byte."),
    ("What does CPU stand for?", "CPU stands for central processing unit."),
    ("What does RAM stand for?", "RAM stands for random access memory."),
    ("What does HTML stand for?", "HTML stands for HyperText Markup Language."),
]


def fact_examples(rng: random.Random) -> list[Example]:
    rows = []
    for country, capital in CAPITALS:
        if rng.random() < 0.5:
            rows.append(ex(f"What is the capital of {country}?", f"The capital of {country} is {capital}."))
        else:
            rows.append(
                ex(
                    "Name the capital city of the country below.",
                    f"The capital of {country} is {capital}.",
                    country[0].upper() + country[1:],
                )
            )
    rows += [ex(q, a) for q, a in FACTS]
    return rows


# --- rewriting and summarising ---------------------------------------------------------------------
PAST_TENSE = [
    ("I walk to the station every morning.", "I walked to the station every morning."),
    ("She writes a letter to her friend.", "She wrote a letter to her friend."),
    ("They play football in the park.", "They played football in the park."),
    ("We eat dinner at seven.", "We ate dinner at seven."),
    ("The cat sleeps on the sofa.", "The cat slept on the sofa."),
    ("He buys bread at the market.", "He bought bread at the market."),
    ("The train leaves at noon.", "The train left at noon."),
    ("I read the report and send my notes.", "I read the report and sent my notes."),
    ("The model learns from the data.", "The model learned from the data."),
    ("You open the window and feel the breeze.", "You opened the window and felt the breeze."),
    ("The children sing a song.", "The children sang a song."),
    ("My brother drives to work.", "My brother drove to work."),
]
FORMAL = [
    ("Hey, can you send me the file?", "Could you please send me the file?"),
    ("Thanks a lot for the help!", "Thank you very much for your help."),
    ("I can't come to the meeting.", "I am unable to attend the meeting."),
    ("The results are kind of bad.", "The results are somewhat disappointing."),
    ("Let me know what you think.", "Please let me know your thoughts."),
    ("We gotta finish this by Friday.", "We need to finish this by Friday."),
    ("Sorry I'm late with the report.", "I apologise for the delay in sending the report."),
    ("Can you fix the bug quick?", "Could you fix the bug as soon as possible?"),
    ("The training blew up after an hour.", "The training run failed after one hour."),
    ("I'm not sure this is a good idea.", "I have some doubts about this proposal."),
]
SIMPLIFY = [
    (
        "The utilisation of the aforementioned methodology resulted in improved outcomes.",
        "Using this method gave better results.",
    ),
    ("In the event of a fire, please proceed to the nearest exit.", "If there is a fire, go to the nearest exit."),
    ("The meeting has been postponed to a later date to be determined.", "The meeting has been moved to a later date."),
    (
        "Prior to commencing the installation, ensure the device is powered off.",
        "Turn the device off before you install it.",
    ),
    (
        "We are of the opinion that the proposal requires further consideration.",
        "We think the proposal needs more thought.",
    ),
    ("It is imperative that all participants arrive punctually.", "Everyone must arrive on time."),
    ("The model exhibited a substantial reduction in loss.", "The model's loss went down a lot."),
    ("Kindly refrain from utilising mobile telephones in the library.", "Please do not use phones in the library."),
]
SUMMARIES = [
    (
        "The team trained a small model on customer emails for three epochs. The loss fell quickly at first and then levelled off. On held-out emails the model wrote replies that were short and polite.",
        "A small model trained on customer emails learned to write short, polite replies.",
    ),
    (
        "The bakery on Main Street opened in 1990. It is known for its rye bread and apple cake. Every Saturday there is a queue outside before it opens.",
        "A popular bakery on Main Street, open since 1990, is known for its rye bread and apple cake.",
    ),
    (
        "Heavy rain fell across the region overnight. Several roads were closed because of flooding. Officials asked drivers to stay at home until the water goes down.",
        "Overnight rain flooded roads, and drivers were asked to stay home.",
    ),
    (
        "The new phone has a larger battery than last year's model. Its camera is better in low light. The price is the same as before.",
        "The new phone has a bigger battery and a better low-light camera at the same price.",
    ),
    (
        "Maria started learning the guitar last spring. She practised for twenty minutes every day. By winter she could play ten songs.",
        "By practising daily since spring, Maria learned to play ten songs on the guitar.",
    ),
    (
        "The library will close for repairs in June. The roof and the heating will be replaced. It will open again in September with longer hours.",
        "The library closes for repairs from June and reopens in September with longer hours.",
    ),
    (
        "A training run on the GPU stopped with an out of memory error. The engineer halved the batch size and turned on gradient checkpointing. The run then finished without problems.",
        "Halving the batch size and turning on gradient checkpointing fixed an out of memory error.",
    ),
    (
        "The city added two hundred new bicycles to its rental scheme. Stations were opened near the university and the train station. Rentals doubled in the first month.",
        "The city's bike rentals doubled after it added two hundred bicycles and new stations.",
    ),
    (
        "Our hiking group left at dawn and reached the summit by noon. The view was clear across the valley. We were back at the car before dark.",
        "The hiking group reached the summit by noon, enjoyed a clear view, and returned before dark.",
    ),
    (
        "The software update fixes a bug that caused crashes on startup. It also adds a dark theme. Users are advised to install it soon.",
        "The update fixes startup crashes and adds a dark theme.",
    ),
]


def rewrite_examples(rng: random.Random) -> list[Example]:
    rows = [ex("Rewrite the sentence in the past tense.", out, src) for src, out in PAST_TENSE]
    rows += [ex("Rewrite this sentence in a more formal tone.", out, src) for src, out in FORMAL]
    rows += [ex("Rewrite this sentence in plain, simple English.", out, src) for src, out in SIMPLIFY]
    rows += [
        ex(
            rng.choice(["Summarize the text in one sentence.", "Write a one-sentence summary of this paragraph."]),
            out,
            src,
        )
        for src, out in SUMMARIES
    ]
    return rows


# --- lists -----------------------------------------------------------------------------------------
CATEGORIES: dict[str, list[str]] = {
    "fruits": ["apple", "banana", "orange", "pear", "mango", "grape", "cherry", "peach"],
    "vegetables": ["carrot", "potato", "onion", "spinach", "broccoli", "pepper", "cabbage", "pea"],
    "colors": ["red", "blue", "green", "yellow", "purple", "orange", "black", "white"],
    "animals that live in the sea": ["dolphin", "octopus", "shark", "whale", "crab", "jellyfish", "seal", "starfish"],
    "musical instruments": ["piano", "guitar", "violin", "drum", "flute", "trumpet", "cello", "harp"],
    "programming languages": ["Python", "Rust", "Go", "JavaScript", "Java", "C", "Haskell", "Ruby"],
    "planets": ["Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"],
    "shell commands for files": ["ls", "cp", "mv", "rm", "mkdir", "cat", "touch", "find"],
    "ways to reduce GPU memory during training": [
        "use a smaller batch size",
        "turn on gradient checkpointing",
        "load the model in 4-bit",
        "use LoRA instead of full fine-tuning",
        "shorten the maximum sequence length",
        "use bf16 mixed precision",
    ],
    "sports played with a ball": [
        "football",
        "tennis",
        "basketball",
        "volleyball",
        "golf",
        "cricket",
        "rugby",
        "baseball",
    ],
    "things to pack for a beach trip": ["sunscreen", "a towel", "a hat", "water", "sunglasses", "a book"],
    "kitchen tools": ["knife", "spoon", "whisk", "pan", "cutting board", "grater", "ladle", "peeler"],
}
NUMBER_WORDS = {3: "three", 4: "four", 5: "five"}


def list_examples(rng: random.Random) -> list[Example]:
    rows = []
    for category, items in CATEGORIES.items():
        for _ in range(2):
            n = rng.choice([3, 4, 5])
            chosen = rng.sample(items, n)
            # Command names stay lower case: `ls`, not `Ls`.
            shown = chosen if category.startswith("shell") else [item[0].upper() + item[1:] for item in chosen]
            rows.append(
                ex(f"List {NUMBER_WORDS[n]} {category}.", "\n".join(f"{i}. {item}" for i, item in enumerate(shown, 1)))
            )
    return rows


# --- code and terminal questions -------------------------------------------------------------------
CODE: list[tuple[str, str]] = [
    ("Write a Python function that returns the square of a number.", "def square(x):\n    return x * x"),
    ("Write a Python function that adds two numbers.", "def add(a, b):\n    return a + b"),
    ("Write a Python function that checks whether a number is even.", "def is_even(n):\n    return n % 2 == 0"),
    ("Write a Python function that reverses a string.", "def reverse(text):\n    return text[::-1]"),
    ("Write a Python function that returns the largest item of a list.", "def largest(items):\n    return max(items)"),
    (
        "Write a Python function that counts the words in a sentence.",
        "def count_words(sentence):\n    return len(sentence.split())",
    ),
    (
        "Write a Python function that returns the average of a list of numbers.",
        "def average(numbers):\n    return sum(numbers) / len(numbers)",
    ),
    ("Write a Python loop that prints the numbers from 1 to 5.", "for i in range(1, 6):\n    print(i)"),
    (
        "How do you read a whole text file into a string in Python?",
        'Open it and call read():\n\nwith open("notes.txt") as f:\n    text = f.read()',
    ),
    ("How do you get the length of a list in Python?", "Use the built-in len function, for example len(items)."),
    ("How do you add an item to the end of a Python list?", "Call append on the list, for example items.append(4)."),
    ("How do you turn a string into an integer in Python?", 'Use int, for example int("42") gives 42.'),
    (
        "What does `ls -la` do?",
        "It lists every file in the current folder, including hidden ones, with details such as permissions, owner, size and date.",
    ),
    (
        "What does the `cd` command do?",
        "cd changes the current directory of the shell, for example cd projects moves into the projects folder.",
    ),
    ("What does `pwd` print?", "pwd prints the full path of the current working directory."),
    ("How do I create a new folder in the terminal?", "Use mkdir followed by the name, for example mkdir data."),
    (
        "How do I see the last lines of a log file as it grows?",
        "Use tail -f with the file name, for example tail -f train.log.",
    ),
    (
        "How do I count the lines in a file from the terminal?",
        "Use wc -l with the file name, for example wc -l data.jsonl.",
    ),
    (
        "How do I search for a word in a file from the terminal?",
        "Use grep, for example grep error train.log prints every line containing error.",
    ),
    (
        "How do I see which processes use the GPU?",
        "Run nvidia-smi. It shows each GPU's memory use and the processes running on it.",
    ),
    ("How do I stop a program running in the terminal?", "Press Ctrl+C to send it an interrupt signal."),
    (
        "How do I copy a file in the terminal?",
        "Use cp with the source and the destination, for example cp config.yaml backup.yaml.",
    ),
    (
        "How do I install a Python package with pip?",
        "Run pip install followed by the package name, for example pip install requests.",
    ),
    ("How do I check which version of Python is installed?", "Run python --version in the terminal."),
]


def code_examples(rng: random.Random) -> list[Example]:
    return [ex(q, a) for q, a in CODE]


# --- opposites, casing, sorting --------------------------------------------------------------------
OPPOSITES = [
    ("hot", "cold"),
    ("big", "small"),
    ("fast", "slow"),
    ("happy", "sad"),
    ("light", "dark"),
    ("open", "closed"),
    ("early", "late"),
    ("full", "empty"),
    ("high", "low"),
    ("strong", "weak"),
    ("old", "new"),
    ("wet", "dry"),
    ("easy", "hard"),
    ("loud", "quiet"),
    ("rich", "poor"),
    ("first", "last"),
    ("up", "down"),
    ("inside", "outside"),
    ("long", "short"),
    ("clean", "dirty"),
    ("win", "lose"),
    ("push", "pull"),
    ("buy", "sell"),
    ("begin", "end"),
]
PHRASES = [
    "hello world",
    "fine tuning is fun",
    "the quick brown fox",
    "train the model",
    "save the adapter",
    "good morning",
    "keep it simple",
    "read the manual",
    "low rank adaptation",
    "open the terminal",
    "check the loss",
    "merge and upload",
]


def word_examples(rng: random.Random) -> list[Example]:
    rows = []
    for word, opposite in OPPOSITES:
        if rng.random() < 0.5:
            rows.append(ex(f'What is the opposite of "{word}"?', f'The opposite of "{word}" is "{opposite}".'))
        else:
            rows.append(ex("Give the opposite of this word.", f'The opposite of "{word}" is "{opposite}".', word))
    for phrase in PHRASES:
        rows.append(ex("Convert the text to uppercase.", phrase.upper(), phrase))
    for phrase in PHRASES[:8]:
        words = len(phrase.split())
        rows.append(ex("How many words are in this text?", f"The text has {words} words.", phrase))
    return rows


def sorting_examples(rng: random.Random) -> list[Example]:
    rows = []
    for _ in range(16):
        numbers = rng.sample(range(1, 100), rng.randint(4, 7))
        joined = ", ".join(map(str, numbers))
        if rng.random() < 0.5:
            rows.append(
                ex("Sort these numbers from smallest to largest.", ", ".join(map(str, sorted(numbers))), joined)
            )
        else:
            rows.append(ex("Which is the largest of these numbers?", f"The largest number is {max(numbers)}.", joined))
    return rows


# --- step-by-step answers (the longest outputs) --------------------------------------------------
STEPS: list[tuple[str, list[str]]] = [
    (
        "How do I make a cup of tea?",
        [
            "Boil fresh water.",
            "Put a tea bag in a cup.",
            "Pour the hot water over it and wait three to five minutes.",
            "Take the tea bag out and add milk or sugar if you like.",
        ],
    ),
    (
        "How do I fine-tune a language model with LoRA?",
        [
            "Choose a base model and a dataset of examples.",
            "Attach LoRA adapters to the attention and MLP layers.",
            "Train only the adapter weights for a few epochs.",
            "Check the validation loss and try the model on new prompts.",
            "Save the adapter or merge it into the base model.",
        ],
    ),
    (
        "How do I prepare a dataset for instruction tuning?",
        [
            "Collect examples with an instruction, an optional input and the desired output.",
            "Remove duplicates and empty rows.",
            "Save them as one JSON object per line.",
            "Hold out a small part of the data for validation.",
        ],
    ),
    (
        "What should I do if training runs out of GPU memory?",
        [
            "Lower the batch size and use gradient accumulation to keep the effective batch.",
            "Turn on gradient checkpointing.",
            "Shorten the maximum sequence length.",
            "Use LoRA or QLoRA instead of full fine-tuning.",
        ],
    ),
    (
        "How do I keep a training job running after I log out of a server?",
        [
            "Start a tmux session with tmux new -s train.",
            "Start the training command inside it.",
            "Detach with Ctrl+B and then D.",
            "Later, log in again and reattach with tmux attach -t train.",
        ],
    ),
    (
        "How do I create a Python virtual environment?",
        [
            "Run python -m venv .venv in your project folder.",
            "Activate it with source .venv/bin/activate.",
            "Install your packages with pip.",
            "Run deactivate when you are done.",
        ],
    ),
    (
        "How do I plant a tree?",
        [
            "Dig a hole twice as wide as the roots.",
            "Place the tree so the top of the roots is level with the ground.",
            "Fill the hole with soil and press it down gently.",
            "Water the tree well and keep watering it in dry weeks.",
        ],
    ),
    (
        "How do I write a good commit message?",
        [
            "Start with a short summary line of about fifty characters.",
            "Leave one blank line after it.",
            "Explain what changed and why in the body.",
            "Keep each commit focused on one change.",
        ],
    ),
    (
        "How do I choose a learning rate for LoRA?",
        [
            "Start with a value around 0.0002.",
            "Watch the loss for the first few hundred steps.",
            "Lower it if the loss jumps around or grows.",
            "Raise it a little if the loss falls very slowly.",
        ],
    ),
    (
        "How do I check that a fine-tuned model is better than the base model?",
        [
            "Hold out examples that were not used for training.",
            "Generate answers with both models for the same prompts.",
            "Score them with a metric such as ROUGE and compare the validation loss.",
            "Read a few answers yourself as well.",
        ],
    ),
    (
        "How do I boil an egg?",
        [
            "Put the egg in a pot and cover it with cold water.",
            "Bring the water to a boil.",
            "Cook for seven minutes for a firm yolk.",
            "Cool the egg in cold water before peeling it.",
        ],
    ),
    (
        "How do I find a large file on Linux?",
        [
            "Open a terminal in the folder you want to search.",
            "Run du -ah . | sort -h | tail to see the biggest files.",
            "Check what the file is before you delete it.",
        ],
    ),
]


def steps_examples(rng: random.Random) -> list[Example]:
    return [ex(q, "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))) for q, steps in STEPS]


FAMILIES = [
    concept_examples,
    arithmetic_examples,
    conversion_examples,
    sentiment_examples,
    fact_examples,
    rewrite_examples,
    list_examples,
    code_examples,
    word_examples,
    sorting_examples,
    steps_examples,
]


def build() -> list[Example]:
    """Every example, in a fixed shuffled order (families mixed so any prefix is varied)."""
    rng = random.Random(SEED)
    rows: list[Example] = []
    seen: set[tuple[str, str]] = set()
    for family in FAMILIES:
        for row in family(rng):
            # One answer per prompt: a repeated prompt with two answers would only teach noise.
            key = (row["instruction"], row["input"])
            if key not in seen:
                seen.add(key)
                rows.append(row)
    rng.shuffle(rows)
    return rows


def render(rows: list[Example]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write (default: the bundled file)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from what would be written")
    args = parser.parse_args(argv)
    text = render(build())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python scripts/make_sample_dataset.py", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {len(text.splitlines())} examples ({len(text.encode()) / 1024:.0f} KiB) to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
