//! The personalisation benchmark's users: what each one stored, and the questions they ask later.
//! Shared by the always-run test (`tests/api/personalisation.rs`) and the full benchmark
//! (`benches/personalisation.rs`). Hand-written facts and questions, plus deterministic filler:
//! work notes from templates, and imported chat lines — real ones from a LoCoMo conversation
//! (two other people talking about their own jobs, families and plans: the hardest distractors
//! for "my ..." questions) and the user's own chats with friends, written to share words with the
//! questions ("Nice job, Maria!").
//!
//! No probe's fact is always-included context: none is a core memory (importance ≥ 0.9) or a
//! preference. The data was written before the ranking was tuned, and not changed after, but
//! for the `Advice` probes and the standing conditions they need (two per user), added with the
//! conditions tier as its held-out check.

#![allow(dead_code)] // the test uses one user, the benchmark all

use std::path::Path;

/// How a memory came to be in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MemoryKind {
    /// `remember` with the user's own statement about themselves (EXPLICIT, FACT).
    Stated,
    /// Said in a conversation; the (fake) Claude extraction stores it (EXTRACTED).
    Extracted,
    /// A work note the user asked to keep (EXPLICIT, OTHER).
    Note,
    /// A line of a chat with other people, imported (IMPORTED, OTHER).
    Imported,
    /// Said by the user earlier in the same conversation, and stored nowhere (the larger set's
    /// multi-turn questions, `personalisation_more.rs`).
    Said,
}

/// What a question asks of the memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuestionKind {
    /// Asks for a fact about the user, in other words than it was stored with.
    Direct,
    /// Asks for help with something a good answer needs the fact for.
    Task,
    /// About a person in the user's life.
    Person,
    /// About one of the user's work notes.
    Note,
    /// About something the user only said in passing in a conversation.
    Learned,
    /// Asks for advice that must fit a standing condition of the user's. Written after the
    /// conditions tier (`services::memory::conditions`) was built on the misses of `Task`, and
    /// before it ran on them: the held-out check of that tier.
    Advice,
    /// The larger set (`personalisation_more.rs`): recalls one memory of a topic the user has many
    /// memories on.
    LookUp,
    /// The larger set's second batch of look-it-up questions, written to be harder.
    LookUpHarder,
    /// The larger set's third batch: one memory of a topic the user has twenty memories on.
    LookUpCrowded,
    /// The larger set: the needed fact was said earlier in the same conversation.
    Earlier,
    /// The larger set: builds on the previous turn ("Which city does he live in?").
    FollowUp,
}

impl QuestionKind {
    pub fn label(self) -> &'static str {
        match self {
            QuestionKind::Direct => "direct question about the user",
            QuestionKind::Task => "task that needs a fact",
            QuestionKind::Person => "someone in the user's life",
            QuestionKind::Note => "a work note",
            QuestionKind::Learned => "said in passing, extracted",
            QuestionKind::Advice => "advice that needs a standing condition (held out)",
            QuestionKind::LookUp => "look it up: one of many memories on a topic",
            QuestionKind::LookUpHarder => "look it up, second batch (written to be harder)",
            QuestionKind::LookUpCrowded => "look it up, third batch (one of twenty on the topic)",
            QuestionKind::Earlier => "multi-turn: said earlier in the conversation",
            QuestionKind::FollowUp => "multi-turn: builds on the previous turn",
        }
    }
}

pub struct Probe {
    pub question: &'static str,
    pub kind: QuestionKind,
    /// The memory the request to Claude must carry (its exact content).
    pub needs: &'static str,
}

pub struct Persona {
    pub name: &'static str,
    /// Facts the user stated about themselves through `remember`.
    pub stated: &'static [&'static str],
    /// (what the user says in a chat, the memory Claude's extraction makes of it).
    pub told: &'static [(&'static str, &'static str)],
    /// Work notes the probes ask about (more are generated).
    pub notes: &'static [&'static str],
    /// Lines of the user's chats with friends, imported ("Name: text").
    pub chats: &'static [&'static str],
    /// The friends in those chats (generated lines use them too).
    pub friends: &'static [&'static str],
    /// Words of the user's work, for generated notes.
    pub work: &'static [&'static str],
    /// The LoCoMo conversation whose lines are imported too.
    pub locomo_conversation: usize,
    pub probes: &'static [Probe],
}

const fn probe(question: &'static str, kind: QuestionKind, needs: &'static str) -> Probe {
    Probe { question, kind, needs }
}

use QuestionKind::{Advice, Direct, Learned, Note, Person, Task};

pub const PERSONAS: &[Persona] = &[
    Persona {
        name: "Maria",
        stated: &[
            "I work night shifts as an intensive care nurse at a hospital in Hamburg",
            "I live in Altona, a few minutes from the Elbe river",
            "My brother Lukas is a carpenter in Munich",
            "My daughter Emma is seven and starts piano lessons in autumn",
            "I drive a grey 2015 Volkswagen Golf",
            "I have a rescue greyhound called Pepper",
            "I'm learning Portuguese because my partner Tiago is from Porto",
            "Tiago works as a sound engineer for a theatre",
            "I had knee surgery in 2022 and should avoid running downhill",
            "I play the clarinet in a community orchestra on Tuesday evenings",
            "I grew up on a farm near Lüneburg",
            "I keep two beehives on our allotment garden",
            "I'm saving up for a camper van",
            "I studied nursing in Kiel",
            "I'm allergic to latex",
            "I'm lactose intolerant",
        ],
        told: &[
            (
                "Finally some good news: the landlord agreed to fix our heating before winter.",
                "The landlord agreed to fix the heating before winter",
            ),
            ("We just booked a week in the Azores for September!", "Booked a week in the Azores for September"),
            (
                "I've started volunteering at the food bank on Saturday mornings.",
                "Volunteers at the food bank on Saturday mornings",
            ),
            (
                "My mum turns seventy on the 12th of June, we're planning a party.",
                "Her mother turns seventy on 12 June",
            ),
            ("I passed my advanced life support exam today!", "Passed the advanced life support exam"),
        ],
        notes: &[
            "Ward meeting: the new rota starts on 3 March, nights Monday to Wednesday",
            "Locker code at the hospital: 4471",
            "Ask Dr. Brandt about the budget for ventilator training",
        ],
        chats: &[
            "Anna: Nice job, Maria! The cake was amazing",
            "Jonas: my job interview went great, they liked my portfolio",
            "Sofia: we should walk along the river some weekend",
            "Anna: my daughter hates piano, we stopped the lessons",
            "Jonas: the new Golf models look so boring",
            "Sofia: our dog chewed my sandals again",
            "Anna: the heating in our office is broken again",
            "Jonas: we're going to Madeira in September, can't wait",
            "Sofia: my knee hurts after every run these days",
            "Anna: my brother finally found a flat in Munich",
            "Jonas: I'm thinking of learning Spanish this year",
            "Sofia: what instrument did your neighbour play? it was loud",
        ],
        friends: &["Anna", "Jonas", "Sofia"],
        work: &["ward 4", "the night handover", "the medication audit", "the ICU supply room", "patient transfers"],
        locomo_conversation: 6,
        probes: &[
            probe(
                "What do I do for a living?",
                Direct,
                "I work night shifts as an intensive care nurse at a hospital in Hamburg",
            ),
            probe(
                "Which part of the city is my flat in?",
                Direct,
                "I live in Altona, a few minutes from the Elbe river",
            ),
            probe("What kind of car do I own?", Direct, "I drive a grey 2015 Volkswagen Golf"),
            probe(
                "Which instrument do I play, and when?",
                Direct,
                "I play the clarinet in a community orchestra on Tuesday evenings",
            ),
            probe(
                "Which language am I studying at the moment?",
                Direct,
                "I'm learning Portuguese because my partner Tiago is from Porto",
            ),
            probe("What does my brother do for work?", Person, "My brother Lukas is a carpenter in Munich"),
            probe("How old is my kid?", Person, "My daughter Emma is seven and starts piano lessons in autumn"),
            probe(
                "Gift ideas for my partner that fit his job?",
                Person,
                "Tiago works as a sound engineer for a theatre",
            ),
            probe(
                "Is a steep downhill trail run a good idea for me this weekend?",
                Task,
                "I had knee surgery in 2022 and should avoid running downhill",
            ),
            probe("What's a good toy for my pet?", Task, "I have a rescue greyhound called Pepper"),
            probe(
                "When does the new shift schedule begin?",
                Note,
                "Ward meeting: the new rota starts on 3 March, nights Monday to Wednesday",
            ),
            probe("I forgot the number for my locker at work.", Note, "Locker code at the hospital: 4471"),
            probe("Where are we going on holiday this autumn?", Learned, "Booked a week in the Azores for September"),
            probe("When is my mother's birthday?", Learned, "Her mother turns seventy on 12 June"),
            probe(
                "Did the landlord say anything about the radiators?",
                Learned,
                "The landlord agreed to fix the heating before winter",
            ),
            probe("What gloves should I get for the allotment?", Advice, "I'm allergic to latex"),
            probe("Can you recommend a pudding for Emma's birthday party?", Advice, "I'm lactose intolerant"),
        ],
    },
    Persona {
        name: "Kenji",
        stated: &[
            "I teach chemistry at a high school in Osaka",
            "I live in a small apartment in Tennoji with my wife Yuki",
            "Yuki is a pediatrician",
            "Our son Haruto is studying mechanical engineering in Nagoya",
            "I ride a road bike to school every day, about 9 km each way",
            "I'm type 2 diabetic and watch my sugar intake",
            "I collect vinyl records, mostly 1970s jazz fusion",
            "My father runs a soba restaurant in Matsumoto",
            "I coach the school's table tennis club",
            "I'm planning to climb Mount Fuji next summer",
            "I have a shiba inu named Kinako",
            "I'm colour blind (red-green)",
            "I used to work as a lab technician at a paint company",
            "I'm trying to read one English novel a month",
            "I get migraines from bright flashing lights",
            "I don't drink alcohol",
        ],
        told: &[
            ("The school just made me head of the science department!", "Became head of the science department"),
            (
                "Yuki and I are thinking about moving to Kyoto in two years.",
                "Thinking about moving to Kyoto in two years",
            ),
            ("I sprained my wrist at table tennis practice yesterday.", "Sprained his wrist at table tennis practice"),
            ("Haruto got an internship at Toyota for the summer.", "Son Haruto got a summer internship at Toyota"),
            ("My dentist appointment got moved to the 18th.", "Dentist appointment moved to the 18th"),
        ],
        notes: &[
            "Lab safety inspection on 22 May: check the fume hoods and eyewash stations",
            "Exam papers for class 2-B are due to the vice principal by Friday",
            "Order 500 g of copper sulfate for the crystal growing practical",
        ],
        chats: &[
            "Takeshi: good job on the concert, Kenji! your son played well",
            "Aiko: I teach English now, it's a hard job",
            "Takeshi: my son is studying law in Tokyo",
            "Aiko: we went to Kyoto last weekend, so many tourists",
            "Ryo: my bike got stolen again",
            "Takeshi: diabetes runs in my family too, my dad has it",
            "Aiko: my dog ate a whole bag of rice crackers",
            "Ryo: climbing Fuji was the hardest thing I ever did",
            "Takeshi: my father closed his ramen shop last year",
            "Aiko: what records did you buy in Shinsaibashi?",
            "Ryo: I hurt my shoulder playing tennis",
            "Takeshi: where do you live now? still near the station?",
        ],
        friends: &["Takeshi", "Aiko", "Ryo"],
        work: &["class 2-B", "the chemistry lab", "the table tennis club", "the parents' evening", "the science fair"],
        locomo_conversation: 7,
        probes: &[
            probe("What subject do I teach?", Direct, "I teach chemistry at a high school in Osaka"),
            probe(
                "How do I usually get to work?",
                Direct,
                "I ride a road bike to school every day, about 9 km each way",
            ),
            probe("What kind of music do I collect?", Direct, "I collect vinyl records, mostly 1970s jazz fusion"),
            probe(
                "What did I do before I became a teacher?",
                Direct,
                "I used to work as a lab technician at a paint company",
            ),
            probe("What does my wife do?", Person, "Yuki is a pediatrician"),
            probe(
                "What is my son studying, and where?",
                Person,
                "Our son Haruto is studying mechanical engineering in Nagoya",
            ),
            probe("What does my dad do for a living?", Person, "My father runs a soba restaurant in Matsumoto"),
            probe(
                "Can you suggest a dessert I could make for a party?",
                Task,
                "I'm type 2 diabetic and watch my sugar intake",
            ),
            probe("Which colours should I pick for my presentation slides?", Task, "I'm colour blind (red-green)"),
            probe(
                "What training should I start to prepare for my big hike?",
                Task,
                "I'm planning to climb Mount Fuji next summer",
            ),
            probe(
                "When is the inspection of the lab?",
                Note,
                "Lab safety inspection on 22 May: check the fume hoods and eyewash stations",
            ),
            probe(
                "What chemicals do I still need to buy for class?",
                Note,
                "Order 500 g of copper sulfate for the crystal growing practical",
            ),
            probe("What new role did I get at school?", Learned, "Became head of the science department"),
            probe("Which city are we considering moving to?", Learned, "Thinking about moving to Kyoto in two years"),
            probe("How did I hurt my hand?", Learned, "Sprained his wrist at table tennis practice"),
            probe("Any ideas for a night out with Yuki?", Advice, "I get migraines from bright flashing lights"),
            probe("What should I bring to my colleague's farewell party?", Advice, "I don't drink alcohol"),
        ],
    },
    Persona {
        name: "Priya",
        stated: &[
            "I'm a freelance architect specialising in timber houses",
            "I live in Leeds, in a terraced house in Headingley",
            "My sister Anjali is a journalist at a newspaper in Delhi",
            "I'm severely short-sighted and wear contact lenses",
            "I sail a small dinghy on Roundhay lake in summer",
            "My partner Sam is a primary school teacher",
            "I have two cats, Biscuit and Moth",
            "I'm training for my first triathlon in August",
            "I speak Hindi, English and some Italian",
            "I bake sourdough every Sunday",
            "I'm renovating our loft into a studio",
            "My grandmother lives with us and needs a wheelchair",
            "I cycle everywhere and don't own a car",
            "I studied architecture in Glasgow",
            "I'm twelve weeks pregnant",
            "I'm afraid of heights",
        ],
        told: &[
            ("Just won the bid for the community hall in Otley!", "Won the bid for the community hall in Otley"),
            ("Sam and I are getting married next May.", "Getting married to Sam next May"),
            ("My laptop died so I'm working on the old desktop for now.", "Laptop died; working on the old desktop"),
            ("I've joined a pottery class on Thursday nights.", "Joined a pottery class on Thursday nights"),
            ("My accountant says my tax return is due by 31 January.", "Tax return is due by 31 January"),
        ],
        notes: &[
            "Client Hargreaves wants the kitchen extension drawings by 14 October",
            "Planning permission reference for the Otley hall: 24/01893/FUL",
            "Structural engineer for the loft: call Dev Patel on Monday",
        ],
        chats: &[
            "Chloe: great job on the house plans, they look stunning",
            "Marcus: my sister is a journalist too, small world",
            "Chloe: my cat keeps bringing in mice",
            "Marcus: sailing was cancelled, too windy on the lake",
            "Ella: I'm getting married in June!!",
            "Chloe: my grandmother moved into a care home",
            "Marcus: I finally bought a car, a little Fiat",
            "Ella: do you still bake bread? mine always comes out flat",
            "Marcus: the triathlon swim leg nearly killed me",
            "Chloe: my laptop is dying too, everything is so slow",
            "Ella: I'm learning Italian on an app",
            "Marcus: which glasses did you get in the end?",
        ],
        friends: &["Chloe", "Marcus", "Ella"],
        work: &[
            "the Otley hall",
            "the Hargreaves extension",
            "the timber frame details",
            "the site visit",
            "the planning office",
        ],
        locomo_conversation: 8,
        probes: &[
            probe("What's my profession?", Direct, "I'm a freelance architect specialising in timber houses"),
            probe("Which neighbourhood do I live in?", Direct, "I live in Leeds, in a terraced house in Headingley"),
            probe("Which languages can I speak?", Direct, "I speak Hindi, English and some Italian"),
            probe("What am I doing to the top floor of my house?", Direct, "I'm renovating our loft into a studio"),
            probe("What does my sister do?", Person, "My sister Anjali is a journalist at a newspaper in Delhi"),
            probe("What are my pets called?", Person, "I have two cats, Biscuit and Moth"),
            probe("What does my partner work as?", Person, "My partner Sam is a primary school teacher"),
            probe(
                "Plan a day out for my family that everyone can join.",
                Task,
                "My grandmother lives with us and needs a wheelchair",
            ),
            probe(
                "How should I get to a meeting across town tomorrow?",
                Task,
                "I cycle everywhere and don't own a car",
            ),
            probe(
                "Give me a training plan for the race I'm doing this summer.",
                Task,
                "I'm training for my first triathlon in August",
            ),
            probe(
                "When are the drawings for the kitchen extension due?",
                Note,
                "Client Hargreaves wants the kitchen extension drawings by 14 October",
            ),
            probe(
                "Who do I need to ring about the loft structure?",
                Note,
                "Structural engineer for the loft: call Dev Patel on Monday",
            ),
            probe("Which project did I win recently?", Learned, "Won the bid for the community hall in Otley"),
            probe("When is our wedding?", Learned, "Getting married to Sam next May"),
            probe("What's the deadline for my taxes?", Learned, "Tax return is due by 31 January"),
            probe("Suggest a weekend activity for Sam and me.", Advice, "I'm twelve weeks pregnant"),
            probe("What should we do on our trip to Edinburgh?", Advice, "I'm afraid of heights"),
        ],
    },
    Persona {
        name: "Tomás",
        stated: &[
            "I'm a retired bus driver from Cork",
            "I live in a cottage in Kinsale overlooking the harbour",
            "My wife Bríd passed away three years ago",
            "My granddaughter Aoife is studying medicine in Galway",
            "I have a pacemaker since 2019",
            "I grow potatoes, leeks and cabbage in the back garden",
            "I sing in the parish choir",
            "I fish for mackerel from my small boat in summer",
            "My son Declan is a firefighter in Boston",
            "I walk with a cane after a hip replacement",
            "I'm learning to use a tablet to video call my family",
            "I play the tin whistle at sessions in the local pub on Fridays",
            "I support Cork in the hurling",
            "I was a union representative for the bus drivers for ten years",
            "I have coeliac disease",
            "My sister Nora lives with me since her stroke",
        ],
        told: &[
            ("The doctor put me on new blood pressure tablets this week.", "Started new blood pressure tablets"),
            ("Declan is coming home from Boston for Christmas!", "Son Declan is coming home for Christmas"),
            (
                "I've joined the men's shed in town, we're building benches.",
                "Joined the men's shed in town, building benches",
            ),
            ("My neighbour Mary is minding my keys while I'm away.", "Neighbour Mary is minding his keys"),
            ("The boat's engine needs a new fuel pump.", "The boat's engine needs a new fuel pump"),
        ],
        notes: &[
            "Choir rehearsal moved to Wednesday at 7 in the church hall",
            "Pension office reference number: PPS 7734512T",
            "Cardiology check-up at Cork University Hospital on 9 November",
        ],
        chats: &[
            "Paddy: good job with the potatoes this year, Tomás",
            "Nora: my granddaughter is doing nursing in Limerick",
            "Paddy: the bus drivers are on strike again",
            "Nora: my son moved to New York last spring",
            "Seán: caught nothing off the pier today",
            "Nora: my hip is playing up in this weather",
            "Paddy: the choir sounded lovely on Sunday",
            "Seán: the pub session was packed on Friday",
            "Nora: how do you video call on these tablets?",
            "Paddy: Kerry will win the hurling this year, mark my words",
            "Seán: my doctor changed my tablets too",
            "Nora: where does your family live these days?",
        ],
        friends: &["Paddy", "Nora", "Seán"],
        work: &["the choir", "the garden", "the boat", "the men's shed", "the parish fête"],
        locomo_conversation: 9,
        probes: &[
            probe("What did I do for work before I retired?", Direct, "I'm a retired bus driver from Cork"),
            probe("Where is my home?", Direct, "I live in a cottage in Kinsale overlooking the harbour"),
            probe("What vegetables am I growing?", Direct, "I grow potatoes, leeks and cabbage in the back garden"),
            probe(
                "What instrument do I play down at the pub?",
                Direct,
                "I play the tin whistle at sessions in the local pub on Fridays",
            ),
            probe(
                "What is my granddaughter studying?",
                Person,
                "My granddaughter Aoife is studying medicine in Galway",
            ),
            probe("What does my son do over in America?", Person, "My son Declan is a firefighter in Boston"),
            probe(
                "Is it safe for me to go through the airport security scanner?",
                Task,
                "I have a pacemaker since 2019",
            ),
            probe("Suggest a gentle exercise routine for me.", Task, "I walk with a cane after a hip replacement"),
            probe(
                "What should I bring for a day out on the water?",
                Task,
                "I fish for mackerel from my small boat in summer",
            ),
            probe("When is choir practice now?", Note, "Choir rehearsal moved to Wednesday at 7 in the church hall"),
            probe(
                "When do I see the heart doctor?",
                Note,
                "Cardiology check-up at Cork University Hospital on 9 November",
            ),
            probe("What medicine did the doctor give me lately?", Learned, "Started new blood pressure tablets"),
            probe("Who is coming home for the holidays?", Learned, "Son Declan is coming home for Christmas"),
            probe("What part does the boat need?", Learned, "The boat's engine needs a new fuel pump"),
            probe("Who has my spare keys?", Learned, "Neighbour Mary is minding his keys"),
            probe("Which restaurant should I book for Christmas dinner with Declan?", Advice, "I have coeliac disease"),
            probe("Give me ideas for a Sunday at home.", Advice, "My sister Nora lives with me since her stroke"),
        ],
    },
];

/// A memory to store, and how.
pub struct Seed {
    pub content: String,
    pub kind: MemoryKind,
}

/// A small deterministic generator (SplitMix64), so every run stores the same filler.
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const NOTE_TEMPLATES: &[&str] = &[
    "Follow up with {friend_or_colleague} about {work} next week",
    "Reminder: update the checklist for {work}",
    "Idea: a shared calendar for {work}",
    "Budget for {work} is tight this quarter",
    "{work}: send the summary to the team by {day}",
    "Book a room for the {work} review on {day}",
    "Question for {friend_or_colleague}: who owns {work} now?",
    "Draft notes for {work}, finish on {day}",
];
const COLLEAGUES: &[&str] = &["Alex", "Jordan", "Morgan", "Robin", "Sasha", "Kim"];
const DAYS: &[&str] = &["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"];
const CHAT_TEMPLATES: &[&str] = &[
    "running late, see you at the {place} in ten",
    "did you watch the match last night?",
    "haha that's brilliant",
    "can you send me the photos from the {place}?",
    "happy birthday to your {relative}!",
    "I'm so tired today, long week",
    "let's get coffee near the {place} on {day}",
    "thanks for the help yesterday, really appreciated",
    "my {relative} says hi",
    "the weather is awful again",
];
const PLACES: &[&str] = &["station", "market", "library", "park", "cinema", "harbour"];
const RELATIVES: &[&str] = &["mum", "dad", "cousin", "aunt", "uncle"];

/// Everything `persona` has stored before the questions, in the order it is stored: generated
/// notes and chat lines, `locomo_lines` real chat lines, then the hand-written memories. (Told
/// facts are not here: they come from the conversation, through extraction.)
pub fn seeds(persona: &Persona, index: usize, locomo: &Path, locomo_lines: usize) -> Vec<Seed> {
    let mut generator = Generator(0x5EED + index as u64);
    let mut seeds = Vec::new();
    let push = |content: String, kind: MemoryKind, seeds: &mut Vec<Seed>| {
        if !seeds.iter().any(|s: &Seed| s.content.eq_ignore_ascii_case(&content)) {
            seeds.push(Seed { content, kind });
        }
    };
    for _ in 0..40 {
        let text = generator
            .pick(NOTE_TEMPLATES)
            .replace("{work}", generator.pick(persona.work))
            .replace("{friend_or_colleague}", generator.pick(COLLEAGUES))
            .replace("{day}", generator.pick(DAYS));
        push(text, MemoryKind::Note, &mut seeds);
    }
    for _ in 0..30 {
        let friend = generator.pick(persona.friends);
        let text = generator
            .pick(CHAT_TEMPLATES)
            .replace("{place}", generator.pick(PLACES))
            .replace("{relative}", generator.pick(RELATIVES))
            .replace("{day}", generator.pick(DAYS));
        push(format!("{friend}: {text}"), MemoryKind::Imported, &mut seeds);
    }
    for line in locomo_chat_lines(locomo, persona.locomo_conversation, locomo_lines) {
        push(line, MemoryKind::Imported, &mut seeds);
    }
    for chat in persona.chats {
        push(chat.to_string(), MemoryKind::Imported, &mut seeds);
    }
    for note in persona.notes {
        push(note.to_string(), MemoryKind::Note, &mut seeds);
    }
    for fact in persona.stated {
        push(fact.to_string(), MemoryKind::Stated, &mut seeds);
    }
    seeds
}

/// The first `count` turns of a LoCoMo conversation as "Speaker: text" lines.
fn locomo_chat_lines(path: &Path, conversation: usize, count: usize) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let samples: serde_json::Value = serde_json::from_slice(&bytes).expect("LoCoMo is JSON");
    let conversation = &samples[conversation]["conversation"];
    let mut lines = Vec::new();
    for n in 1.. {
        let Some(session) = conversation.get(format!("session_{n}")).and_then(|s| s.as_array()) else { break };
        for turn in session {
            let (Some(speaker), Some(text)) = (turn["speaker"].as_str(), turn["text"].as_str()) else { continue };
            lines.push(format!("{speaker}: {text}"));
            if lines.len() == count {
                return lines;
            }
        }
    }
    lines
}
