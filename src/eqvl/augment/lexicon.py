"""Curated word lists for captions: colours, sizes, counts, spatial relations, objects, verbs, synonyms.

Why curated: a hard negative must stay plausible and of the same kind ("red" -> "blue", not "red" -> "communist"),
and a hard positive must keep the meaning exactly; hand-made groups do both far better than a generic resource.
WordNet (see wordnet.py) only extends coverage for words these lists do not know.
"""

from __future__ import annotations

DETERMINERS = frozenset(
    "a an the this that these those some his her its their my your our another each every several many few".split()
)

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12,
}
NUMBER_NAMES = {v: k for k, v in NUMBER_WORDS.items()}

# attribute classes: a replacement hard negative stays inside its class
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "color": ("red", "blue", "green", "yellow", "white", "black", "brown", "orange", "pink", "purple", "gray", "grey",
              "silver", "gold", "golden", "tan", "beige", "dark", "blond", "blonde", "maroon"),
    "size": ("big", "large", "small", "little", "tiny", "huge", "giant", "enormous", "tall", "short", "long", "wide",
             "narrow", "thin", "thick", "fat", "skinny"),
    "material": ("wooden", "wood", "metal", "metallic", "plastic", "glass", "stone", "brick", "leather", "paper",
                 "ceramic", "concrete", "steel"),
    "age": ("young", "old", "elderly", "new", "adult", "baby"),
    "state": ("empty", "full", "open", "closed", "clean", "dirty", "broken", "sliced", "whole", "cooked",
              "raw", "fresh", "messy", "neat", "lit", "crowded", "busy", "quiet", "shiny", "ripe",
              "stuffed", "modern", "antique", "vintage", "hot", "cold", "frozen"),
    "weather": ("wet", "dry", "snowy", "sunny", "cloudy", "grassy", "rocky", "sandy", "muddy", "calm", "rough",
                "foggy", "rainy", "icy", "dusty"),
    "pattern": ("striped", "spotted", "plaid", "checkered", "polka", "floral", "plain", "colorful", "colourful"),
    "look": ("bright", "pale", "fluffy", "furry", "hairy", "bald"),
    "mood": ("smiling", "happy", "sad", "angry", "asleep", "awake", "sleepy", "tired", "excited"),
}
ATTRIBUTE_CLASS = {w: cls for cls, words in ATTRIBUTES.items() for w in words}

# preferred contrasting values (a swap to the antonym is the clearest meaning change)
ANTONYMS = {
    "big": "small", "large": "small", "small": "large", "little": "big", "tiny": "huge", "huge": "tiny",
    "tall": "short", "short": "tall", "long": "short", "wide": "narrow", "narrow": "wide", "thin": "thick",
    "thick": "thin", "fat": "thin", "skinny": "fat", "young": "old", "old": "young", "new": "old", "elderly": "young",
    "empty": "full", "full": "empty", "open": "closed", "closed": "open", "wet": "dry", "dry": "wet",
    "clean": "dirty", "dirty": "clean", "broken": "whole", "whole": "sliced", "sliced": "whole", "cooked": "raw",
    "raw": "cooked", "messy": "neat", "neat": "messy", "crowded": "empty", "busy": "quiet", "quiet": "busy",
    "hot": "cold", "cold": "hot", "sunny": "cloudy", "cloudy": "sunny", "calm": "rough", "rough": "calm",
    "happy": "sad", "sad": "happy", "modern": "antique", "antique": "modern", "asleep": "awake", "awake": "asleep",
    "black": "white", "white": "black", "dark": "bright", "bright": "dark", "giant": "tiny",
    "enormous": "tiny", "adult": "baby", "baby": "adult", "fresh": "old",
}

# meaning-preserving synonyms (hard positives); symmetric by construction below
_SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    # attributes
    ("big", "large"), ("small", "little"), ("huge", "enormous"), ("gray", "grey"), ("colorful", "colourful"),
    ("blond", "blonde"), ("wooden", "wood"), ("happy", "cheerful"), ("messy", "untidy"), ("elderly", "aged"),
    ("fluffy", "fuzzy"), ("shiny", "glossy"), ("metal", "metallic"),
    # objects
    ("couch", "sofa"), ("bike", "bicycle"), ("motorcycle", "motorbike"), ("airplane", "plane", "aeroplane"),
    ("tv", "television"), ("cellphone", "phone"), ("kid", "child"), ("puppy", "pup"), ("kitten", "kitty"),
    ("photo", "photograph", "picture"), ("road", "street"), ("automobile", "car"), ("sneaker", "trainer"),
    ("stone", "rock"), ("man", "guy"),
    ("woman", "lady"), ("refrigerator", "fridge"), ("pavement", "sidewalk"),
    ("ocean", "sea"), ("taxi", "cab"), ("doughnut", "donut"), ("hotdog", "frankfurter"),
    # verbs (ing forms) and verb phrases
    ("sitting", "seated"), ("lying", "laying"), ("talking", "speaking"), ("chasing", "pursuing"),
    ("grabbing", "grasping"), ("smiling", "grinning"),
    ("jumping", "leaping"), ("consuming", "eating"), ("holding", "gripping"), ("looking at", "gazing at"),
    ("photographing", "shooting"), ("carrying", "toting"),
    # relations
    ("next to", "beside", "alongside"), ("near", "close to"), ("under", "beneath", "underneath"),
    ("on top of", "atop"), ("in", "inside"), ("above", "over"), ("behind", "in back of"),
    ("across from", "opposite"), ("inside of", "within"), ("outside", "outside of"),
)
SYNONYMS: dict[str, tuple[str, ...]] = {}
for _group in _SYNONYM_GROUPS:
    for _w in _group:
        SYNONYMS[_w] = tuple(x for x in _group if x != _w)
REVERSE_SYNONYMS: dict[str, set[str]] = {}
for _group in _SYNONYM_GROUPS:
    for _w in _group:
        REVERSE_SYNONYMS.setdefault(_w, set()).update(x for x in _group if x != _w)
# some pairs are only safe one way round ("gripping" is holding, but "holding" a baby is not "gripping" it)
for _w, _others in (("holding", ()), ("eating", ()), ("shooting", ()),
                    ("rock", ()), ("phone", ()), ("picture", ()),
                    ("street", ()), ("over", ()), ("in", ()), ("guy", ()), ("lady", ()),
                    ("laying", ()), ("seated", ()), ("aged", ())):
    SYNONYMS[_w] = _others

# spatial / prepositional relations, longest first when matching; value = kind
RELATIONS: dict[str, str] = {
    "to the left of": "left", "on the left of": "left", "left of": "left",
    "to the right of": "right", "on the right of": "right", "right of": "right",
    "in front of": "front", "behind": "behind", "in back of": "behind",
    "on top of": "on", "atop": "on", "on": "on", "onto": "on", "upon": "on",
    "under": "under", "underneath": "under", "beneath": "under", "below": "below", "above": "above", "over": "above",
    "next to": "near", "beside": "near", "alongside": "near", "near": "near", "close to": "near", "by": "near",
    "nearby": "near", "far from": "far", "away from": "far",
    "inside of": "in", "inside": "in", "in": "in", "within": "in", "into": "in",
    "outside of": "out", "outside": "out", "out of": "out",
    "with": "with", "without": "without", "across from": "across", "opposite": "across", "across": "across",
    "along": "along", "around": "around", "against": "against", "through": "through", "between": "between",
    "among": "between", "at": "at", "toward": "toward", "towards": "toward", "down": "down", "up": "up",
    "past": "past", "from": "from", "for": "for", "during": "during", "of": "of", "off": "off",
}
RELATION_MAX_WORDS = max(len(k.split()) for k in RELATIONS)
RELATION_FIRST_WORDS = frozenset(k.split()[0] for k in RELATIONS)

# inverse relations: "A left of B" == "B right of A" (hard positive with swapped arguments)
INVERSES = {
    "to the left of": "to the right of", "to the right of": "to the left of",
    "on the left of": "on the right of", "on the right of": "on the left of",
    "left of": "right of", "right of": "left of",
    "above": "below", "below": "above", "over": "under", "under": "over", "underneath": "over", "beneath": "above",
    "in front of": "behind", "behind": "in front of", "in back of": "in front of",
    "on top of": "underneath", "atop": "underneath",
}
# symmetric relations: "A next to B" == "B next to A"
SYMMETRIC = frozenset({"next to", "beside", "alongside", "near", "close to", "across from", "opposite"})

# contrasting relations for replacement negatives
RELATION_CONTRAST = {
    "on": ("under", "next to", "beside"), "on top of": ("under", "next to"), "atop": ("under", "beside"),
    "onto": ("off",), "upon": ("under",),
    "under": ("on", "on top of", "above"), "underneath": ("on top of", "above"), "beneath": ("above", "on"),
    "below": ("above",), "above": ("below", "under"), "over": ("under", "below"),
    "in": ("on", "under", "next to", "outside"), "inside": ("outside", "on top of"), "inside of": ("outside of",),
    "within": ("outside",), "into": ("out of",),
    "outside": ("inside",), "outside of": ("inside of",), "out of": ("into",),
    "next to": ("on", "under", "far from", "behind"), "beside": ("on", "under", "behind"),
    "near": ("far from", "on", "under"), "close to": ("far from",), "by": ("on", "under", "far from"),
    "alongside": ("under", "on"), "far from": ("near", "next to"), "away from": ("toward",),
    "left of": ("right of",), "right of": ("left of",), "to the left of": ("to the right of",),
    "to the right of": ("to the left of",), "on the left of": ("on the right of",),
    "on the right of": ("on the left of",),
    "in front of": ("behind",), "behind": ("in front of",), "in back of": ("in front of",),
    "across from": ("next to", "behind"), "opposite": ("beside",),
    "toward": ("away from",), "towards": ("away from",), "up": ("down",), "down": ("up",),
    "through": ("around",), "around": ("through",), "along": ("across",), "across": ("along",),
    "against": ("away from",),
}

# verbs: base, 3sg, ing, past participle, transitive (safe for passive)
_VERBS = (
    ("sit", "sits", "sitting", "sat", False), ("stand", "stands", "standing", "stood", False),
    ("lie", "lies", "lying", "lain", False), ("lay", "lays", "laying", "laid", False),
    ("kneel", "kneels", "kneeling", "knelt", False), ("rest", "rests", "resting", "rested", False),
    ("sleep", "sleeps", "sleeping", "slept", False), ("wait", "waits", "waiting", "waited", False),
    ("walk", "walks", "walking", "walked", False), ("run", "runs", "running", "run", False),
    ("jump", "jumps", "jumping", "jumped", False), ("fly", "flies", "flying", "flown", False),
    ("swim", "swims", "swimming", "swum", False), ("climb", "climbs", "climbing", "climbed", True),
    ("ride", "rides", "riding", "ridden", True), ("drive", "drives", "driving", "driven", True),
    ("hold", "holds", "holding", "held", True), ("carry", "carries", "carrying", "carried", True),
    ("throw", "throws", "throwing", "thrown", True), ("catch", "catches", "catching", "caught", True),
    ("hit", "hits", "hitting", "hit", True), ("kick", "kicks", "kicking", "kicked", True),
    ("push", "pushes", "pushing", "pushed", True), ("pull", "pulls", "pulling", "pulled", True),
    ("chase", "chases", "chasing", "chased", True), ("follow", "follows", "following", "followed", True),
    ("feed", "feeds", "feeding", "fed", True), ("pet", "pets", "petting", "petted", True),
    ("hug", "hugs", "hugging", "hugged", True), ("kiss", "kisses", "kissing", "kissed", True),
    ("lick", "licks", "licking", "licked", True), ("sniff", "sniffs", "sniffing", "sniffed", True),
    ("bite", "bites", "biting", "bitten", True), ("eat", "eats", "eating", "eaten", True),
    ("drink", "drinks", "drinking", "drunk", True), ("cut", "cuts", "cutting", "cut", True),
    ("slice", "slices", "slicing", "sliced", True), ("cook", "cooks", "cooking", "cooked", True),
    ("wash", "washes", "washing", "washed", True), ("brush", "brushes", "brushing", "brushed", True),
    ("read", "reads", "reading", "read", True), ("watch", "watches", "watching", "watched", True),
    ("wear", "wears", "wearing", "worn", True), ("use", "uses", "using", "used", True),
    ("touch", "touches", "touching", "touched", True), ("grab", "grabs", "grabbing", "grabbed", True),
    ("lead", "leads", "leading", "led", True), ("carry", "carries", "carrying", "carried", True),
    ("paint", "paints", "painting", "painted", True), ("fix", "fixes", "fixing", "fixed", True),
    ("open", "opens", "opening", "opened", True), ("close", "closes", "closing", "closed", True),
    ("play", "plays", "playing", "played", False), ("swing", "swings", "swinging", "swung", True),
    ("fly", "flies", "flying", "flown", False), ("surf", "surfs", "surfing", "surfed", False),
    ("ski", "skis", "skiing", "skied", False), ("skate", "skates", "skating", "skated", False),
    ("skateboard", "skateboards", "skateboarding", "skateboarded", False),
    ("graze", "grazes", "grazing", "grazed", False), ("look", "looks", "looking", "looked", False),
    ("talk", "talks", "talking", "talked", False), ("smile", "smiles", "smiling", "smiled", False),
    ("pose", "poses", "posing", "posed", False), ("cross", "crosses", "crossing", "crossed", True),
    ("cover", "covers", "covering", "covered", True), ("fill", "fills", "filling", "filled", True),
    ("park", "parks", "parking", "parked", True), ("face", "faces", "facing", "faced", False),
    ("serve", "serves", "serving", "served", True), ("prepare", "prepares", "preparing", "prepared", True),
    ("hang", "hangs", "hanging", "hung", False), ("travel", "travels", "traveling", "traveled", False),
    ("cook", "cooks", "cooking", "cooked", True), ("stare", "stares", "staring", "stared", False),
    ("approach", "approaches", "approaching", "approached", True), ("pass", "passes", "passing", "passed", True),
    ("sail", "sails", "sailing", "sailed", False), ("wave", "waves", "waving", "waved", False),
    ("laugh", "laughs", "laughing", "laughed", False), ("dance", "dances", "dancing", "danced", False),
    ("perch", "perches", "perching", "perched", False), ("stack", "stacks", "stacking", "stacked", True),
    ("display", "displays", "displaying", "displayed", True), ("sell", "sells", "selling", "sold", True),
    ("drag", "drags", "dragging", "dragged", True), ("tow", "tows", "towing", "towed", True),
    ("hold", "holds", "holding", "held", True), ("photograph", "photographs", "photographing",
                                                  "photographed", True),
    ("gaze", "gazes", "gazing", "gazed", False), ("pursue", "pursues", "pursuing", "pursued", True),
    ("grasp", "grasps", "grasping", "grasped", True), ("grip", "grips", "gripping", "gripped", True),
    ("relax", "relaxes", "relaxing", "relaxed", False), ("grin", "grins", "grinning", "grinned", False),
    ("leap", "leaps", "leaping", "leapt", False), ("stroll", "strolls", "strolling", "strolled", False),
    ("speak", "speaks", "speaking", "spoken", False), ("tote", "totes", "toting", "toted", True),
    ("consume", "consumes", "consuming", "consumed", True), ("shoot", "shoots", "shooting", "shot", True),
    ("crouch", "crouches", "crouching", "crouched", False), ("squat", "squats", "squatting", "squatted", False),
    ("hover", "hovers", "hovering", "hovered", False), ("float", "floats", "floating", "floated", False),
    ("land", "lands", "landing", "landed", False), ("drop", "drops", "dropping", "dropped", True),
    ("lift", "lifts", "lifting", "lifted", True), ("sing", "sings", "singing", "sung", False),
    ("type", "types", "typing", "typed", False), ("write", "writes", "writing", "written", True),
    ("build", "builds", "building", "built", True), ("hitch", "hitches", "hitching", "hitched", True),
)
VERB_ING: dict[str, tuple[str, str, str, str, bool]] = {}
VERB_FORMS: dict[str, tuple[str, str, str, str, bool]] = {}
for _v in _VERBS:
    VERB_ING[_v[2]] = _v
    for _form in _v[:3]:
        VERB_FORMS.setdefault(_form, _v)

# verb groups for replacement negatives (same slot, different action)
VERB_GROUPS: tuple[tuple[str, ...], ...] = (
    ("sitting", "standing", "lying", "kneeling", "sleeping", "jumping"),
    ("walking", "running", "jumping", "standing", "sitting"),
    ("holding", "throwing", "catching", "eating", "carrying", "kicking", "dropping", "lifting"),
    ("riding", "pushing", "pulling", "carrying", "washing", "painting", "fixing"),
    ("chasing", "following", "feeding", "petting", "hugging", "kissing", "licking", "biting", "sniffing",
     "watching", "pushing"),
    ("eating", "cutting", "slicing", "cooking", "serving", "preparing", "holding", "drinking"),
    ("drinking", "spilling", "holding", "pouring"),
    ("reading", "writing", "holding", "watching"),
    ("wearing", "holding", "carrying", "washing"),
    ("flying", "landing", "perching", "swimming"),
    ("surfing", "swimming", "sailing", "floating"),
    ("skiing", "snowboarding", "sledding", "walking"),
    ("playing", "watching", "holding"), ("talking", "laughing", "arguing", "dancing"),
    ("smiling", "frowning", "crying", "laughing"), ("driving", "parking", "washing", "towing", "pushing"),
    ("looking", "pointing", "staring", "waving"), ("grazing", "running", "sleeping", "lying"),
    ("swinging", "holding", "throwing", "dropping"), ("hitting", "missing", "catching", "kicking"),
    ("crossing", "blocking", "leaving"), ("covered", "surrounded", "filled"), ("parked", "stopped", "driving"),
)

# objects grouped by kind for replacement negatives (COCO-like vocabulary)
OBJECT_GROUPS: dict[str, tuple[str, ...]] = {
    "person": ("man", "woman", "boy", "girl", "child", "kid", "person", "lady", "guy", "baby", "player", "skier",
               "surfer", "skateboarder", "rider", "chef", "cook", "officer", "policeman", "teenager", "student",
               "soldier", "worker", "tourist", "couple", "family", "crowd", "people", "team", "adult", "gentleman",
               "toddler", "father", "mother", "son", "daughter", "friend", "batter", "catcher",
               "umpire", "snowboarder", "tennis player", "farmer", "vendor", "athlete", "cowboy"),
    "animal": ("dog", "cat", "horse", "cow", "sheep", "elephant", "bear", "zebra", "giraffe", "bird", "duck",
               "goose", "pigeon", "seagull", "puppy", "kitten", "pony", "goat", "pig", "deer", "lamb", "calf",
               "bull", "monkey", "squirrel", "rabbit", "chicken", "owl", "parrot", "fish", "teddy bear", "lion",
               "tiger", "mouse", "frog", "turtle", "swan", "crow", "polar bear"),
    "vehicle": ("car", "truck", "bus", "train", "bicycle", "bike", "motorcycle", "airplane", "plane", "boat",
                "van", "taxi", "jeep", "scooter", "tractor", "trolley", "tram", "ship", "canoe", "kayak", "helicopter",
                "jet", "suv", "limo", "ambulance", "firetruck", "sailboat", "yacht", "wagon", "cart", "carriage",
                "skateboard", "surfboard", "snowboard", "sled"),
    "food": ("pizza", "sandwich", "cake", "donut", "doughnut", "apple", "banana", "orange", "broccoli", "carrot",
             "hot dog", "hotdog", "burger", "hamburger", "salad", "bread", "cheese", "egg", "steak", "rice", "soup",
             "pasta", "cookie", "cupcake", "pie", "muffin", "bagel", "taco", "burrito", "fries", "chicken",
             "tomato", "potato", "onion", "lettuce", "pepper", "strawberry", "grape", "lemon", "lime", "pear",
             "peach", "pineapple", "watermelon", "cucumber", "mushroom", "sausage", "bacon", "pancake", "waffle",
             "dessert", "meal", "vegetable", "fruit", "coffee", "tea", "wine", "beer", "juice", "milk",
             "soda", "ice cream", "dessert", "noodles", "sushi"),
    "furniture": ("chair", "couch", "sofa", "bed", "table", "desk", "bench", "shelf", "cabinet", "dresser",
                  "stool", "counter", "sink", "toilet", "bathtub", "tub", "shower", "mirror", "lamp", "rug",
                  "carpet", "pillow", "blanket", "curtain", "window", "door", "fireplace", "stove", "oven",
                  "refrigerator", "fridge", "microwave", "dishwasher", "bookshelf", "nightstand", "crib",
                  "armchair", "ottoman", "countertop", "table"),
    "container": ("cup", "mug", "glass", "bottle", "bowl", "plate", "vase", "box", "basket", "bag", "jar", "pot",
                  "pan", "tray", "bucket", "can", "suitcase", "backpack", "purse", "handbag", "luggage", "dish",
                  "platter", "container", "teapot", "kettle", "wine glass", "pitcher"),
    "utensil": ("fork", "knife", "spoon", "chopsticks", "spatula", "scissors", "toothbrush", "brush", "comb",
                "pen", "pencil", "napkin", "towel"),
    "electronics": ("laptop", "computer", "keyboard", "mouse", "phone", "cellphone", "cell phone", "tv",
                    "television", "remote", "camera", "monitor", "screen", "radio", "tablet", "speaker",
                    "controller", "clock"),
    "reading": ("book", "newspaper", "magazine", "map", "poster", "painting", "picture", "photo", "menu", "letter"),
    "sports": ("kite", "frisbee", "ball", "racket", "bat", "glove", "helmet", "skis", "tennis racket",
               "baseball bat", "baseball glove", "soccer ball", "umbrella", "toy", "doll", "balloon",
               "teddy bear"),
    "clothing": ("tie", "hat", "cap", "shirt", "jacket", "coat", "dress", "scarf", "shoe", "boot", "sunglasses",
                 "glasses", "uniform", "wetsuit", "jersey", "sweater", "hoodie", "suit", "vest", "skirt", "jeans",
                 "shorts", "pants", "necklace", "watch", "bracelet", "mask", "apron", "backpack", "collar"),
    "street": ("fire hydrant", "stop sign", "parking meter", "traffic light", "street sign", "sign", "pole",
               "fence", "bench", "street light", "mailbox", "trash can"),
    "structure": ("building", "house", "tower", "bridge", "church", "barn", "statue", "fountain", "tent",
                  "castle", "wall", "shed", "skyscraper"),
    "plant": ("tree", "bush", "flower", "flowers", "plant", "cactus", "palm tree", "rock", "stone", "log"),
    "outdoors": ("street", "road", "sidewalk", "beach", "field", "park", "ocean", "sea", "lake", "river", "pond",
                 "mountain", "hill", "forest", "woods", "city", "town", "yard", "garden", "highway",
                 "intersection", "shore", "slope", "trail", "path", "alley", "pasture", "farm", "zoo", "desert",
                 "dock", "harbor", "pier", "lawn", "meadow", "countryside", "village", "parking lot", "runway",
                 "track", "tracks", "court", "tennis court", "stadium", "platform", "station", "airport"),
    "ground": ("grass", "snow", "water", "sand", "dirt", "floor", "ground", "mud", "ice", "gravel", "carpet"),
    "room": ("kitchen", "bathroom", "bedroom", "living room", "room", "office", "restaurant", "store", "market",
             "hallway", "classroom", "garage", "cafe"),
}
OBJECT_GROUP: dict[str, str] = {}
for _cls, _words in OBJECT_GROUPS.items():
    for _w in _words:
        OBJECT_GROUP.setdefault(_w, _cls)
MULTIWORD_NOUNS = frozenset(w for w in OBJECT_GROUP if " " in w) | frozenset({"cell phone", "hot dog"})
MULTIWORD_FIRST_WORDS = frozenset(k.split()[0] for k in MULTIWORD_NOUNS)

IRREGULAR_PLURALS = {
    "man": "men", "woman": "women", "child": "children", "person": "people", "mouse": "mice", "goose": "geese",
    "foot": "feet", "tooth": "teeth", "sheep": "sheep", "fish": "fish", "deer": "deer", "knife": "knives",
    "life": "lives", "giraffe": "giraffes", "potato": "potatoes", "tomato": "tomatoes", "hero": "heroes",
    "wife": "wives", "leaf": "leaves", "shelf": "shelves", "loaf": "loaves", "calf": "calves", "wolf": "wolves",
    "half": "halves", "policeman": "policemen", "fireman": "firemen", "gentleman": "gentlemen", "ox": "oxen",
    "cactus": "cacti", "bus": "buses", "glass": "glasses", "box": "boxes", "dress": "dresses", "skis": "skis",
    "scissors": "scissors", "jeans": "jeans", "shorts": "shorts", "pants": "pants", "glasses": "glasses",
    "sunglasses": "sunglasses", "tracks": "tracks", "fries": "fries", "noodles": "noodles", "chopsticks": "chopsticks",
    "people": "people", "clothes": "clothes", "woods": "woods",
    "species": "species", "series": "series", "luggage": "luggage", "broccoli": "broccoli", "rice": "rice",
}
IRREGULAR_SINGULARS = {v: k for k, v in IRREGULAR_PLURALS.items() if v != k}
PLURAL_ONLY = frozenset(k for k, v in IRREGULAR_PLURALS.items() if k == v)

# "a group of people" / "a slice of pizza": "of" stays inside the noun phrase after these heads
PARTITIVES = frozenset(
    "group groups bunch bunches pile piles stack stacks slice slices piece pieces plate plates bowl bowls cup cups "
    "glass glasses bottle bottles box boxes herd herds flock flocks couple pair pairs lot lots row rows line lines "
    "set sets team teams crowd crowds variety kind kinds type types display number loaf basket baskets "
    "tray trays jar jars bag bags can cans carton cartons handful sheet sheets".split()
)

AUXILIARIES = frozenset("is are was were be been being has have had am".split())
AUX_PLURAL = {"is": "are", "are": "is", "was": "were", "were": "was", "has": "have", "have": "has"}
CONJUNCTIONS = frozenset({"and", "or"})
NEGATORS = frozenset({"not", "no", "never", "n't", "without", "nobody", "nothing", "none"})

# -ing / -ed words that are nouns or fixed adjectives, never verbs
NON_VERB_ING = frozenset(
    "building buildings ceiling ceilings clothing painting paintings wedding evening morning railing railings icing "
    "frosting ring rings string strings king wing wings thing things something nothing swing swings spring "
    "awning stuffing topping toppings landing crossing dining living sibling siblings pudding ping bedding "
    "sling stocking stockings duckling ducklings earring earrings lightning parking sitting".split()
) - {"sitting", "landing", "crossing", "swing", "swings", "parking", "painting"}
NON_VERB_ED = frozenset("bed sled shed red bird head bread seed reed".split())

# words that are never the head noun of a phrase
FUNCTION_WORDS = frozenset(
    "there here it they he she we you i who which whom whose what where when why how very really quite too also "
    "together some other while as than then so just only both either neither each all its their his her".split()
)

# uncountable nouns: "a" + these never becomes "two ..."
MASS_NOUNS = frozenset(
    "water grass snow sand dirt food rice milk coffee tea wine beer juice soda bread cheese broccoli pasta soup meat "
    "luggage traffic furniture hair fruit salad ice cream sky ground floor lettuce bacon".split()
)
# colours used as replacements (the long tail of shades makes poor, ambiguous negatives)
CORE_COLORS = ("red", "blue", "green", "yellow", "white", "black", "brown", "orange", "pink", "purple", "gray")

# people: replace by a clear contrast (a "kid" is not clearly not a "boy")
PERSON_CONTRAST = {
    "man": ("woman", "boy"), "woman": ("man", "girl"), "boy": ("girl", "man"), "girl": ("boy", "woman"),
    "men": ("women",), "women": ("men",), "lady": ("man",), "guy": ("woman",), "gentleman": ("lady",),
    "father": ("mother",), "mother": ("father",), "son": ("daughter",), "daughter": ("son",),
    "child": ("adult",), "kid": ("adult",), "adult": ("child",), "baby": ("adult",), "toddler": ("adult",),
    "policeman": ("policewoman",), "player": ("referee",),
}
# words too general to replace by a sibling ("food" -> "fuel" is no caption)
GENERIC_NOUNS = frozenset(
    "person people crowd family couple team friend group thing things object objects item items stuff food meal "
    "area scene picture photo image view place something lot kind type variety set side top bottom front back "
    "middle edge part piece pieces end".split()
)
SYNONYM_FIRST_WORDS = frozenset(k.split()[0] for k in SYNONYMS)

# relation synonyms that hold only for some objects: "on a table" == "on top of a table" (a surface), but "on a
# street" is not "on top of a street"; "in a box" == "inside a box", but "in a red shirt" is not "inside" it
CONTEXT_SYNONYMS = {
    "on": (("on top of",), frozenset(), frozenset(
        "table desk counter countertop shelf cabinet dresser stove oven refrigerator fridge microwave nightstand "
        "bed tray plate platter box suitcase car truck bus van train roof rock log pile stack toilet sink "
        "bookshelf dishwasher crib".split())),
    "in": (("inside",), frozenset({"container", "vehicle", "room"}), frozenset({"house", "building", "barn",
                                                                             "tent", "church", "shed"})),
}
