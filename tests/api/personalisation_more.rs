//! The larger personalisation set: for each user of `personalisation_data.rs`, questions of two
//! kinds the first set has none of, asked after its probes in the same store.
//!
//! - **Look it up**: 16 more memories per user on two topics (8 each: Emma's school and Maria's
//!   colleagues, Kenji's records and his club, ...), stored after the first set's probes ran, and
//!   6 questions that each need one of them. The topic's seven other memories share its words, so
//!   the one needed is meant to fall outside the five the context takes by similarity; whether it
//!   does is measured (`searchMemories` rank), not assumed.
//! - **Multi-turn**: a conversation of a few messages, then the question. Either the needed fact
//!   was said earlier in the same conversation (and is nowhere in the store), or the question
//!   builds on the previous turn ("Tell me about my brother." — "Which city does he live in?")
//!   and needs a stored memory the question alone does not name.
//!
//! Written before the first run on them and not changed after; nothing in the product was tuned
//! on them.

#![allow(dead_code)]

use crate::personalisation_data::QuestionKind::{self, Earlier, FollowUp, LookUp, LookUpHarder};

/// A question asked after `before` was said in the same conversation.
pub struct Dialogue {
    pub before: &'static [&'static str],
    pub question: &'static str,
    pub kind: QuestionKind,
    /// What the request to Claude must carry (the exact text of a memory, or of what the user said
    /// earlier in the conversation).
    pub needs: &'static str,
}

pub struct More {
    /// Memories the user stated (`remember`, FACT), on two crowded topics.
    pub crowd: &'static [&'static str],
    /// Single questions in fresh conversations, each needing one memory of `crowd`.
    pub lookups: &'static [Dialogue],
    /// A second batch of them, written after the first run put 22 of the first 24 memories in
    /// the top five: each names its topic in words many memories of it share and its fact only
    /// in other words. Written before it ran, like the rest.
    pub harder: &'static [Dialogue],
    pub dialogues: &'static [Dialogue],
}

const fn ask(question: &'static str, needs: &'static str) -> Dialogue {
    Dialogue { before: &[], question, kind: LookUp, needs }
}

const fn harder(question: &'static str, needs: &'static str) -> Dialogue {
    Dialogue { before: &[], question, kind: LookUpHarder, needs }
}

const fn earlier(before: &'static [&'static str], question: &'static str, needs: &'static str) -> Dialogue {
    Dialogue { before, question, kind: Earlier, needs }
}

const fn follow_up(before: &'static [&'static str], question: &'static str, needs: &'static str) -> Dialogue {
    Dialogue { before, question, kind: FollowUp, needs }
}

/// In the order of `PERSONAS`.
pub const MORE: &[More] = &[
    // Maria
    More {
        crowd: &[
            "Emma's class teacher at school is Frau Weber",
            "Emma's school starts at 8:10 and she has to be there by eight",
            "Emma's school trip to the Hagenbeck zoo is on 14 May",
            "Emma needs a pirate costume for the school play in June",
            "Emma's best friend at school is Lina, whose mum is called Birgit",
            "Emma is allowed to walk to school alone from next year",
            "Emma's school asked for 20 euros for the class fund",
            "Emma gets tired on school days when she has swimming after class",
            "My colleague Jana on ward 4 is expecting twins in March",
            "Dr. Brandt prefers handover notes by email, not on paper",
            "My colleague Felix swaps night shifts with me when Emma is ill",
            "The head nurse, Frau Okafor, retires at the end of the year",
            "My colleague Ben is training for the Hamburg marathon",
            "Clara, a nurse on ward 6, lends me her car when mine is in the garage",
            "My colleague Mehmet brings baklava on the last night shift of the month",
            "Dr. Schulz is my mentor for the advanced practice course",
        ],
        lookups: &[
            ask(
                "What did I tell you Emma has to wear for the school play?",
                "Emma needs a pirate costume for the school play in June",
            ),
            ask("What's the name of Emma's teacher again?", "Emma's class teacher at school is Frau Weber"),
            ask(
                "How much money did the school want for the class?",
                "Emma's school asked for 20 euros for the class fund",
            ),
            ask(
                "Who did I say covers my nights when my daughter is sick?",
                "My colleague Felix swaps night shifts with me when Emma is ill",
            ),
            ask("Which of my coworkers is expecting?", "My colleague Jana on ward 4 is expecting twins in March"),
            ask(
                "Who can I ask to borrow wheels if the Golf breaks down?",
                "Clara, a nurse on ward 6, lends me her car when mine is in the garage",
            ),
        ],
        harder: &[
            harder(
                "What did I tell you about the thing Emma's class is doing at the animal park?",
                "Emma's school trip to the Hagenbeck zoo is on 14 May",
            ),
            harder(
                "Which of the people I work with is running a long race?",
                "My colleague Ben is training for the Hamburg marathon",
            ),
        ],
        dialogues: &[
            earlier(
                &[
                    "I'm meeting my old school friend Hanna at the Fischmarkt on Sunday at seven.",
                    "How long should I boil an egg for a soft yolk?",
                ],
                "Where did I say I'm meeting Hanna?",
                "I'm meeting my old school friend Hanna at the Fischmarkt on Sunday at seven.",
            ),
            earlier(
                &[
                    "My parking permit number is HH-2291, I'll need it later.",
                    "What's a good name for a sourdough starter?",
                    "Ha, another one?",
                ],
                "What was my permit number?",
                "My parking permit number is HH-2291",
            ),
            follow_up(
                &["Tell me about my brother."],
                "Which city does he live in?",
                "My brother Lukas is a carpenter in Munich",
            ),
            follow_up(
                &["What does my partner do for a living?"],
                "Where is he from originally?",
                "I'm learning Portuguese because my partner Tiago is from Porto",
            ),
            follow_up(
                &["What kind of dog do I have?"],
                "And what's its name?",
                "I have a rescue greyhound called Pepper",
            ),
            follow_up(
                &["Which instrument do I play?"],
                "On which evening is that?",
                "I play the clarinet in a community orchestra on Tuesday evenings",
            ),
        ],
    },
    // Kenji
    More {
        crowd: &[
            "I paid 30,000 yen for a first pressing of Herbie Hancock's Head Hunters",
            "My turntable is a Technics SL-1200 I bought used in 2015",
            "My favourite record shop is Time Bomb in Shinsaibashi",
            "I lent my Weather Report albums to Takeshi",
            "I keep my records in a cabinet my father built",
            "I'm hunting for an original copy of Casiopea's first album",
            "I sold my duplicate Return to Forever LPs at the Umeda record fair",
            "My Sunday morning record is Pat Metheny's Bright Size Life",
            "The table tennis club has 14 members this year",
            "Club practice is on Monday and Thursday after school in the gym",
            "Mei, the club's best player, reached the prefecture quarter-finals",
            "The club's new tables arrive in April",
            "I want the club to enter the Kansai school league in autumn",
            "A parent, Mr. Sato, drives the team to away matches",
            "The club's budget pays for balls, not for rubbers",
            "Two first-years in the club, Daiki and Sora, argue a lot",
        ],
        lookups: &[
            ask(
                "What did I pay for that Herbie Hancock record?",
                "I paid 30,000 yen for a first pressing of Herbie Hancock's Head Hunters",
            ),
            ask("Who has my Weather Report albums?", "I lent my Weather Report albums to Takeshi"),
            ask("Which album am I still trying to find?", "I'm hunting for an original copy of Casiopea's first album"),
            ask("How many kids are in my club this year?", "The table tennis club has 14 members this year"),
            ask("Who drives the team to away games?", "A parent, Mr. Sato, drives the team to away matches"),
            ask("When do the new tables come?", "The club's new tables arrive in April"),
        ],
        harder: &[
            harder(
                "What did I tell you about where the club's money goes?",
                "The club's budget pays for balls, not for rubbers",
            ),
            harder(
                "What did I say about the furniture for my vinyl?",
                "I keep my records in a cabinet my father built",
            ),
        ],
        dialogues: &[
            earlier(
                &[
                    "My colleague Nakamura's retirement dinner is at the Hotel Nikko on the 28th.",
                    "Explain the difference between ionic and covalent bonds in one sentence.",
                ],
                "Which hotel did I mention for the dinner?",
                "My colleague Nakamura's retirement dinner is at the Hotel Nikko on the 28th.",
            ),
            earlier(
                &[
                    "The wifi password at the school lab is kagaku-2024.",
                    "Give me a fun fact about copper.",
                    "Another one please.",
                ],
                "What did I say the lab wifi password was?",
                "The wifi password at the school lab is kagaku-2024",
            ),
            follow_up(
                &["Tell me about my son."],
                "What is he studying?",
                "Our son Haruto is studying mechanical engineering in Nagoya",
            ),
            follow_up(
                &["What does my dad do?"],
                "In which town is it?",
                "My father runs a soba restaurant in Matsumoto",
            ),
            follow_up(
                &["How do I get to school every day?"],
                "How far is that each way?",
                "I ride a road bike to school every day, about 9 km each way",
            ),
            follow_up(&["What's my dog's breed?"], "And what's its name?", "I have a shiba inu named Kinako"),
        ],
    },
    // Priya
    More {
        crowd: &[
            "Our wedding photographer is Jess from Kirkstall",
            "We want a vegetarian wedding menu with a South Indian course",
            "My cousin Ravi will DJ at the wedding",
            "The wedding guest list is at 94 people",
            "Sam's mum is making the wedding cake",
            "The wedding ceremony is booked at Leeds Civic Hall",
            "I want to wear my grandmother's gold bangles at the wedding",
            "For the honeymoon after the wedding we're cycling in Puglia",
            "The loft renovation budget is £28,000",
            "The loft will have two Velux windows facing north",
            "Gary the builder starts on the loft in March",
            "I want a timber ladder-stair into the loft, not a full staircase",
            "The loft floor needs extra insulation because of the neighbours' noise",
            "Building control inspected the loft joists on 2 February",
            "The loft studio gets a long desk along the eaves",
            "The loft's old water tank has to be removed first",
        ],
        lookups: &[
            ask("Who's taking the photos at our wedding?", "Our wedding photographer is Jess from Kirkstall"),
            ask("How many people are we inviting?", "The wedding guest list is at 94 people"),
            ask("Who is baking our cake?", "Sam's mum is making the wedding cake"),
            ask("How much did I say we can spend on the loft?", "The loft renovation budget is £28,000"),
            ask("When does the builder start upstairs?", "Gary the builder starts on the loft in March"),
            ask(
                "What has to come out of the loft before work begins?",
                "The loft's old water tank has to be removed first",
            ),
        ],
        harder: &[
            harder("What did I tell you about the music at the wedding?", "My cousin Ravi will DJ at the wedding"),
            harder(
                "What did I say about light coming into the new room upstairs?",
                "The loft will have two Velux windows facing north",
            ),
        ],
        dialogues: &[
            earlier(
                &[
                    "My friend Ella's baby shower is on 9 March at her flat in Chapel Allerton.",
                    "What's a quick lunch I can make with chickpeas?",
                ],
                "When did I say the baby shower is?",
                "My friend Ella's baby shower is on 9 March at her flat in Chapel Allerton.",
            ),
            earlier(
                &["The gate code for the Otley site is 7320.", "How do I convert millimetres to inches?", "Thanks."],
                "What's the code for the site gate?",
                "The gate code for the Otley site is 7320",
            ),
            follow_up(
                &["What does my sister do?"],
                "Which city is she in?",
                "My sister Anjali is a journalist at a newspaper in Delhi",
            ),
            follow_up(
                &["What are my pets called?"],
                "What kind of animals are they?",
                "I have two cats, Biscuit and Moth",
            ),
            follow_up(
                &["What sport am I training for?"],
                "When is it?",
                "I'm training for my first triathlon in August",
            ),
            follow_up(&["Where did I study?"], "And what subject?", "I studied architecture in Glasgow"),
        ],
    },
    // Tomás
    More {
        crowd: &[
            "My boat is a 16-foot clinker-built punt called the Bríd",
            "I keep the boat on a mooring below the Spaniard pub",
            "The boat's life jackets were last serviced in April",
            "I bought a new outboard for the boat, a 6 hp Yamaha, two years ago",
            "My neighbour's lad Cian helps me haul the boat out in October",
            "The boat's licence renewal is due in May",
            "I paint the boat's hull every spring with antifouling",
            "The best mackerel spot for the boat is off the Old Head at slack tide",
            "My GP is Dr. O'Sullivan at the Kinsale health centre",
            "The pacemaker clinic checks the battery every six months",
            "I take warfarin and need a blood test every month",
            "The chiropodist comes to the house on the first Tuesday of the month",
            "My hearing aid batteries are size 312",
            "The pharmacy on Main Street delivers my tablets on Thursdays",
            "My eye test is due in the spring",
            "The physio gave me exercises for the hip to do every morning",
        ],
        lookups: &[
            ask("Where do I keep the boat tied up?", "I keep the boat on a mooring below the Spaniard pub"),
            ask("When were the life jackets last checked?", "The boat's life jackets were last serviced in April"),
            ask(
                "Who gives me a hand taking the boat out of the water?",
                "My neighbour's lad Cian helps me haul the boat out in October",
            ),
            ask("What size batteries does my hearing aid take?", "My hearing aid batteries are size 312"),
            ask(
                "When does the foot doctor come?",
                "The chiropodist comes to the house on the first Tuesday of the month",
            ),
            ask("How often do I need the blood test?", "I take warfarin and need a blood test every month"),
        ],
        harder: &[
            harder("What did I tell you about the paperwork for the boat?", "The boat's licence renewal is due in May"),
            harder(
                "What did I say about who looks after my prescriptions?",
                "The pharmacy on Main Street delivers my tablets on Thursdays",
            ),
        ],
        dialogues: &[
            earlier(
                &[
                    "The grandkids are arriving on the 2 o'clock bus from Cork on Saturday.",
                    "How do I make a proper brown bread?",
                ],
                "What time did I say the grandkids get in?",
                "The grandkids are arriving on the 2 o'clock bus from Cork on Saturday.",
            ),
            earlier(
                &[
                    "The man fixing the roof is called Donal and his number is 087 555 1234.",
                    "What's the weather usually like in Kinsale in March?",
                    "Grand, thanks.",
                ],
                "What was the roofer's number?",
                "The man fixing the roof is called Donal and his number is 087 555 1234",
            ),
            follow_up(&["What does my son do?"], "Which city is he in?", "My son Declan is a firefighter in Boston"),
            follow_up(
                &["What is my granddaughter studying?"],
                "Where is she studying it?",
                "My granddaughter Aoife is studying medicine in Galway",
            ),
            follow_up(
                &["What do I sing in?"],
                "Do I do any other music besides that?",
                "I play the tin whistle at sessions in the local pub on Fridays",
            ),
            follow_up(
                &["What happened to my hip?"],
                "What do I use to get around since then?",
                "I walk with a cane after a hip replacement",
            ),
        ],
    },
];
