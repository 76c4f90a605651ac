"""Writes quickstart.jsonl beside this file: the hand-written sample data of the quickstart."""
import json
from pathlib import Path
G = [  # (question, good answer, ok answer, poor answer)
 ("What is the capital of Australia?", "The capital of Australia is Canberra, chosen in 1908 as a compromise between Sydney and Melbourne.", "Canberra.", "Sydney is the capital of Australia."),
 ("How many days are in a leap year?", "A leap year has 366 days: February gets a 29th day to keep the calendar aligned with Earth's orbit.", "366 days.", "365 days, like every year."),
 ("Explain what a hash table is in one paragraph.", "A hash table stores key-value pairs in an array; a hash function maps each key to a slot, so lookups, inserts and deletes take constant time on average. Collisions are handled by chaining or open addressing.", "It is a data structure that maps keys to values using a hash function.", "A table made of hashes."),
 ("Why is the sky blue?", "Sunlight scatters off air molecules, and shorter blue wavelengths scatter far more than red ones (Rayleigh scattering), so blue light reaches our eyes from every direction of the sky.", "Because blue light is scattered more by the atmosphere.", "Because it reflects the ocean."),
 ("Give me a tip for writing clear emails.", "Put the request or conclusion in the first sentence, then add only the context the reader needs to act on it.", "Keep them short.", "Use lots of exclamation marks so people notice!!!"),
 ("What does HTTP status 404 mean?", "404 Not Found: the server is reachable but has no resource at the requested URL.", "Page not found.", "The server crashed."),
 ("Translate 'good morning' into Spanish.", "'Good morning' in Spanish is 'buenos días'.", "Buenos días.", "Buenas noches."),
 ("What is photosynthesis?", "Photosynthesis is how plants, algae and some bacteria turn light, water and carbon dioxide into glucose and oxygen, using chlorophyll in their chloroplasts.", "Plants making food from sunlight.", "When plants breathe in oxygen at night."),
 ("How do I reverse a list in Python?", "Use `items.reverse()` to reverse in place, or `items[::-1]` / `list(reversed(items))` to get a new reversed list.", "Use items[::-1].", "Python lists cannot be reversed."),
 ("What is the boiling point of water at sea level?", "At sea level (1 atm), pure water boils at 100 °C, which is 212 °F.", "100 degrees Celsius.", "50 degrees Celsius."),
 ("Name three primary colors of light.", "The additive primary colors of light are red, green and blue.", "Red, green, blue.", "Red, yellow and purple."),
 ("What is a prime number?", "A prime number is a whole number greater than 1 whose only divisors are 1 and itself, such as 2, 3, 5 and 7.", "A number divisible only by 1 and itself.", "Any odd number."),
 ("Suggest a name for a coffee shop.", "How about 'The Daily Grind'? It is short, memorable and hints at both coffee and routine.", "Bean There.", "Shop."),
 ("What causes seasons on Earth?", "Seasons come from the tilt of Earth's axis (about 23.4°): as Earth orbits, each hemisphere alternately leans toward the Sun and gets more direct sunlight.", "The tilt of the Earth's axis.", "Earth gets closer to the Sun in summer."),
 ("How many continents are there?", "By the most common convention there are seven continents: Africa, Antarctica, Asia, Australia, Europe, North America and South America.", "Seven.", "Four."),
 ("What is the difference between weather and climate?", "Weather is the state of the atmosphere over hours or days; climate is the long-term pattern of weather in a region, averaged over decades.", "Weather is short term, climate is long term.", "They are the same thing."),
 ("Write a haiku about autumn.", "Crimson maple leaves / drift on the cooling river / the year exhales slow", "Leaves fall down / it is cold now / autumn is here", "Autumn."),
 ("What does CPU stand for?", "CPU stands for Central Processing Unit, the chip that executes a computer's instructions.", "Central Processing Unit.", "Computer Power Unit."),
 ("Why do we need sleep?", "Sleep lets the brain consolidate memories and clear metabolic waste, and lets the body repair tissue and regulate hormones; chronic lack of it harms attention, mood and health.", "To rest the body and brain.", "We don't really need it."),
 ("What is the largest planet in our solar system?", "Jupiter is the largest planet, more than 300 times the mass of Earth.", "Jupiter.", "Saturn."),
 ("How can I improve my sleep quality?", "Keep a regular schedule, keep the bedroom dark and cool, avoid caffeine after midday, and put screens away an hour before bed.", "Go to bed at the same time every day.", "Drink coffee before bed."),
 ("What is an API?", "An API (application programming interface) is a defined set of requests a program accepts and responses it returns, so other software can use it without knowing its internals.", "A way for programs to talk to each other.", "A type of computer virus."),
 ("Explain recursion to a beginner.", "Recursion is when a function solves a problem by calling itself on a smaller version of the same problem, until it reaches a case simple enough to answer directly (the base case).", "A function that calls itself.", "When code loops forever."),
 ("What is the speed of light?", "In a vacuum, light travels at exactly 299,792,458 metres per second, about 300,000 km/s.", "About 300,000 km per second.", "About 300 km per hour."),
 ("What is the chemical symbol for gold?", "The chemical symbol for gold is Au, from the Latin 'aurum'.", "Au.", "Gd."),
 ("How do vaccines work?", "Vaccines expose the immune system to a harmless piece or weakened form of a pathogen, so it builds antibodies and memory cells and can respond fast to the real infection.", "They train the immune system.", "They kill all germs in the body."),
 ("What is the tallest mountain on Earth?", "Mount Everest, at about 8,849 m above sea level, is the highest mountain on Earth.", "Mount Everest.", "K2."),
 ("What is machine learning?", "Machine learning is a field of AI in which programs learn patterns from data to make predictions or decisions, instead of following hand-written rules.", "Computers learning from data.", "Machines that repair themselves."),
 ("Recommend a book for learning statistics.", "'The Art of Statistics' by David Spiegelhalter explains the ideas with real examples and little math; follow it with 'Statistical Rethinking' for modelling.", "The Art of Statistics.", "Any book."),
 ("What is the Pythagorean theorem?", "In a right triangle, the square of the hypotenuse equals the sum of the squares of the other two sides: a² + b² = c².", "a squared plus b squared equals c squared.", "The sum of angles is 180 degrees."),
 ("How do I make a cup of green tea?", "Heat water to about 75–80 °C (not boiling), steep the leaves or bag for 2–3 minutes, then remove them so the tea does not turn bitter.", "Steep it in hot water for a few minutes.", "Boil the leaves for 20 minutes."),
 ("What is inflation?", "Inflation is the general rise in prices over time, which means each unit of money buys less; central banks usually aim for about 2% a year.", "Prices going up.", "When the economy grows."),
 ("Why do cats purr?", "Cats purr by vibrating their laryngeal muscles; they do it when content, but also to soothe themselves when stressed or hurt.", "Usually because they are happy.", "Because they are hungry."),
 ("What is the main function of red blood cells?", "Red blood cells carry oxygen from the lungs to the body's tissues, bound to haemoglobin, and bring some carbon dioxide back.", "To carry oxygen.", "To fight infections."),
 ("What is 'git commit' used for?", "`git commit` records a snapshot of the staged changes in the repository's history, with a message describing them.", "To save changes to the repository.", "To upload code to GitHub."),
 ("Describe the water cycle briefly.", "Water evaporates from oceans and land, condenses into clouds, falls as precipitation, and flows back through rivers and groundwater to the sea.", "Evaporation, condensation, precipitation.", "Water stays in the ocean."),
 ("What language is spoken in Brazil?", "The official and most widely spoken language of Brazil is Portuguese.", "Portuguese.", "Spanish."),
]
MATH = [
 ("What is 12 plus 30?", "42", ["12 + 30 = 42.\n#### 42", "The sum is 43.\n#### 43", "Adding them gives \\boxed{42}."]),
 ("What is 7 times 8?", "56", ["7 × 8 = 56.\n#### 56", "7 × 8 = 54.\n#### 54", "That is 15."]),
 ("A box holds 6 eggs. How many eggs are in 5 boxes?", "30", ["5 × 6 = 30 eggs.\n#### 30", "5 + 6 = 11 eggs.\n#### 11", "\\boxed{30}"]),
 ("What is 100 minus 37?", "63", ["100 − 37 = 63.\n#### 63", "100 − 37 = 73.\n#### 73", "It is 63."]),
 ("Tom has 15 apples and gives away 4. How many are left?", "11", ["15 − 4 = 11.\n#### 11", "15 + 4 = 19.\n#### 19", "He has \\boxed{11} left."]),
 ("What is 9 squared?", "81", ["9 × 9 = 81.\n#### 81", "9 × 2 = 18.\n#### 18", "\\boxed{81}"]),
 ("A train travels 60 km per hour for 3 hours. How far does it go?", "180", ["60 × 3 = 180 km.\n#### 180", "60 + 3 = 63 km.\n#### 63", "It covers \\boxed{180} km."]),
 ("What is half of 64?", "32", ["64 / 2 = 32.\n#### 32", "64 / 2 = 23.\n#### 23", "Half of 64 is 32."]),
]
INSTR = [
 ("Describe the ocean in at most 10 words.", {"max_words": 10}, ["Vast, deep, blue, restless, and full of life.", "The ocean is a very large body of salt water that covers most of the planet and is home to countless species.", "Big water."]),
 ("Write one sentence about coffee without using any commas.", {"no_commas": True}, ["Coffee is brewed from roasted beans and wakes people up.", "Coffee, which is brewed from beans, wakes people up.", "Coffee is nice."]),
 ("List two fruits as a JSON array.", {"json_format": True}, ["[\"apple\", \"banana\"]", "apple and banana", "[\"apple\", \"banana\""]),
]
recs = []
for i, (q, a, b, c) in enumerate(G):
    recs.append({"instruction": q, "completions": [
        {"model": "model-a", "response": a, "overall_score": 9.0},
        {"model": "model-b", "response": b, "overall_score": 6.0},
        {"model": "model-c", "response": c, "overall_score": 2.0}]})
# an exact duplicate record, and a near-duplicate prompt (one word changed)
recs.append(json.loads(json.dumps(recs[0])))
recs.append(json.loads(json.dumps(recs[5])))
near = json.loads(json.dumps(recs[2])); near["instruction"] = "Explain what a hash table is in a single paragraph."; recs.append(near)
# an empty answer, a low-information answer, and a tie
recs[7]["completions"][2]["response"] = ""
recs[12]["completions"][1]["response"] = "OK."
recs[14]["completions"][2]["response"] = "Sure."
recs[16]["completions"][1]["overall_score"] = 9.0
# a padded, overlong answer (the length step's max_words catches it)
recs[3]["completions"].append({"model": "model-d", "overall_score": 5.0, "response": (
    "That is a great question, and one that people have asked for centuries. To answer it properly "
    "we first need to talk about what light is, how the Sun produces it, how it travels through "
    "space, what the atmosphere is made of, how molecules interact with electromagnetic waves, "
    "why different wavelengths behave differently, what our eyes can perceive, how the brain "
    "interprets colour, and why sunsets look red while noon skies look blue. Each of these topics "
    "deserves a careful explanation, so let us take them one at a time, starting with the nature "
    "of sunlight itself, which contains every colour of the visible spectrum mixed together, and "
    "then moving on, step by step, to the scattering of short wavelengths by nitrogen and oxygen.")})  # ties with the best: sft/pairwise still pick one best
tie = {"instruction": "Is a tomato a fruit or a vegetable?", "completions": [
    {"model": "model-a", "response": "Botanically a fruit; in cooking it is treated as a vegetable.", "overall_score": 7.0},
    {"model": "model-b", "response": "Botanically it is a fruit, but cooks use it as a vegetable.", "overall_score": 7.0}]}
recs.append(tie)
for q, ans, outs in MATH:
    recs.append({"instruction": q, "answer": ans, "completions": [{"model": "policy", "response": o} for o in outs]})
for q, cons, outs in INSTR:
    recs.append({"instruction": q, "constraints": cons, "completions": [{"model": "policy", "response": o} for o in outs]})
with open(Path(__file__).with_name("quickstart.jsonl"), "w") as f:
    for r in recs:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(len(recs))
