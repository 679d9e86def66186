"""The demo business's vocabulary: staff, names by community, companies, products and notes.

Data only. The order of every table matters: the generator draws from them with one seeded
random stream, so reordering or adding an entry changes every demo database after it.
"""

STAFF = ("Linh", "Marco", "Aisha", "Joy", "Sam")
FEEDBACK_CATEGORIES = ("delivery", "quality", "price", "service", "staff")
TAGS = ("wholesale", "vip-candidate", "newsletter", "local", "online")

# --- names -------------------------------------------------------------------
# Each group: (male given names, female given names, family names).

ENGLISH = (
    ("James", "Oliver", "Harry", "George", "Jack", "Thomas", "William", "Daniel", "Samuel",
     "Joseph", "Michael", "David", "Christopher", "Matthew", "Ben", "Ryan", "Liam", "Noah"),
    ("Emily", "Olivia", "Sophie", "Charlotte", "Amelia", "Jessica", "Hannah", "Lucy", "Grace",
     "Chloe", "Emma", "Ellie", "Megan", "Laura", "Rachel", "Sarah", "Isla", "Poppy"),
    ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
     "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood",
     "Clarke", "Hughes", "O'Brien", "Patel", "Murphy", "Campbell"),
)

VIETNAMESE_MALE_MIDDLE = ("Văn", "Hữu", "Đức", "Quốc", "Minh", "Thành", "Công", "Gia")
VIETNAMESE_FEMALE_MIDDLE = ("Thị", "Ngọc", "Thu", "Thanh", "Kim", "Mỹ", "Bảo", "Hồng")
VIETNAMESE = (
    ("An", "Bình", "Cường", "Dũng", "Duy", "Hải", "Hiếu", "Hoàng", "Hùng", "Huy", "Khánh",
     "Khoa", "Long", "Nam", "Phúc", "Quân", "Quang", "Sơn", "Thắng", "Tuấn", "Việt", "Tài"),
    ("Anh", "Bích Ngọc", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hoa", "Hương", "Lan", "Linh",
     "Mai", "Nga", "Nhung", "Phương", "Quỳnh", "Tâm", "Thảo", "Trang", "Vy", "Yến", "Xuân"),
    ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi",
     "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Đinh", "Trương"),
)
# Nguyễn is carried by roughly four in ten Vietnamese; the weights follow the list above.
VIETNAMESE_FAMILY_WEIGHTS = (38, 11, 9, 7, 5, 4, 4, 4, 3, 2, 2, 2, 2, 1, 1, 1, 1, 1)

FILIPINO = (
    ("Jose", "Juan", "Mark", "Jerome", "Ramon", "Carlo", "Paolo", "Rodel", "Jun", "Bayani",
     "Ernesto", "Rogelio", "Arnel", "Jomar", "Christian", "Angelo", "Reynaldo", "Dante",
     "Emilio", "Andres"),
    ("Maria", "Ana", "Rosario", "Angelica", "Kristine", "Lourdes", "Jasmine", "Liza",
     "Maricel", "Ligaya", "Dalisay", "Mayumi", "Marites", "Rhea", "Corazon", "Jocelyn",
     "Luzviminda", "Divina", "Teresita", "Imelda"),
    ("Santos", "Reyes", "Cruz", "Bautista", "Ocampo", "Garcia", "Mendoza", "Torres", "Aquino",
     "Villanueva", "Ramos", "Castillo", "Mercado", "Rizal", "dela Cruz", "de Leon",
     "delos Santos", "Dimaculangan", "Macaraeg", "Pangilinan", "Magbanua", "Tolentino"),
)

MALAY = (
    ("Ahmad", "Muhammad", "Mohd Faizal", "Azman", "Hafiz", "Ismail", "Zulkifli", "Aziz",
     "Hakim", "Irfan", "Syafiq", "Amir", "Farid", "Kamal", "Nazri", "Danial", "Haziq",
     "Khairul Anuar", "Shahrul", "Firdaus"),
    ("Siti Nurhaliza", "Nur Aisyah", "Nurul Izzah", "Aminah", "Farah", "Zainab", "Nadia",
     "Salmah", "Rohana", "Siti Aminah", "Noraini", "Faridah", "Hidayah", "Liyana",
     "Syahirah", "Zarina", "Azlina", "Nor Azizah", "Fatimah", "Wan Nadhirah"),
    ("Ismail", "Tarudin", "Abdullah", "Hassan", "Ibrahim", "Yusof", "Osman", "Abdul Rahman",
     "Ahmad", "Mahmud", "Salleh", "Hamid", "Karim", "Othman", "Jaafar", "Mohamed", "Razali",
     "Sulaiman", "Zakaria", "Mustafa"),
)

GROUPS = ("english", "vietnamese", "filipino", "malay")
GROUP_WEIGHTS = (35, 25, 20, 20)

EMAIL_DOMAINS = {
    "english": ("gmail.com", "outlook.com", "hotmail.co.uk", "btinternet.com", "yahoo.co.uk", "icloud.com"),
    "vietnamese": ("gmail.com", "yahoo.com.vn", "outlook.com", "hotmail.com"),
    "filipino": ("gmail.com", "yahoo.com.ph", "yahoo.com", "outlook.com"),
    "malay": ("gmail.com", "yahoo.com.my", "hotmail.com", "outlook.com"),
}

COMPANIES = (
    "Bếp Nhà Lan", "Phở Hà Nội Express", "Sari-Sari ni Aling Nena", "Kusina ni Lola",
    "Kedai Runcit Ahmad", "Warung Mak Siti", "Green Leaf Café", "Harbour Catering Ltd",
    "Riverside Bakery", "Corner Deli & Co", "Office Pantry Supplies", "St Mary's Primary School",
)

CUSTOMER_NOTES = (
    "Prefers contact by phone", "Prefers WhatsApp messages", "Pays by bank transfer",
    "Allergic to peanuts", "Ask for Linh", "Usually orders for the whole office",
    "Birthday in March", "Collects orders on Saturdays", "Speaks Vietnamese and English",
    "Referred by a friend", "Interested in catering for events", "Halal only",
    "Vegetarian", "Needs invoice with company VAT number",
)

INTERACTION_NOTES = {
    "call": ("Called about order status", "Follow-up call after delivery", "Asked about bulk pricing",
             "Left voicemail", "Confirmed pickup time", "Rescheduled delivery",
             "Checked in, happy with last order", "Asked about opening hours over the holidays"),
    "email": ("Emailed invoice copy", "Sent quote for catering order", "Replied to question about ingredients",
              "Order confirmation resent", "Sent updated price list", "Sent monthly newsletter"),
    "meeting": ("Met to discuss wholesale terms", "Tasting session for event order",
                "Quarterly review of standing order", "Discussed catering for company event"),
    "visit": ("Dropped by to look at the new range", "Picked up order in store",
              "Visited with family, asked about gift boxes", "Came in to collect a sample"),
    "support": ("Card payment failed, retried", "Wrong item in delivery, replacement sent",
                "Help with online account login", "Invoice address corrected", "Delivery late, apologised"),
    "other": ("Birthday voucher sent", "Updated contact details", "Loyalty card issued", "Referred a friend"),
}
CONTACT_TYPES = ("call", "email", "meeting", "visit", "support", "other")
CONTACT_WEIGHTS = (30, 28, 7, 17, 12, 6)
WIN_BACK_NOTES = ("Win-back email: 10% off next order", "Called to check in, no answer",
                  "Sent 'we miss you' voucher", "Called to check in, said they moved away")
PURCHASE_NOTES = ("Online order", "Gift wrapping", "Paid cash", "Standing order", "Catering tray", "Pre-order")
REFUND_REASONS = ("damaged item", "wrong item sent", "item out of stock", "goodwill gesture", "late delivery")

FEEDBACK_NOTES = {
    ("complaint", "delivery"): ("Delivery arrived two days late", "Courier left the parcel in the rain",
                                "Order arrived incomplete"),
    ("complaint", "quality"): ("Bread was stale", "Product past its best-before date",
                               "Packaging damaged, contents spilled"),
    ("complaint", "price"): ("Prices went up again without notice", "Charged twice for one order",
                             "Delivery fee too high for a small order"),
    ("complaint", "service"): ("Waited 20 minutes at the counter", "Nobody answered the phone",
                               "Online order cancelled without explanation"),
    ("complaint", "staff"): ("Staff member was rude at checkout", "Was given the wrong change",
                             "Got conflicting answers from two staff members"),
    ("compliment", "delivery"): ("Fast delivery, well packed", "Driver was very careful with the cake"),
    ("compliment", "quality"): ("Best coffee beans in town", "Cake was perfect for the party",
                                "Fresh vegetables every time"),
    ("compliment", "price"): ("Good value for the quality", "Love the weekly specials"),
    ("compliment", "service"): ("Quick and friendly service", "Order was ready exactly on time"),
    ("compliment", "staff"): ("{staff} went out of their way to help", "{staff} remembered my usual order"),
    ("suggestion", "delivery"): ("Please offer evening delivery slots", "Would like a pickup locker"),
    ("suggestion", "quality"): ("More vegetarian options please", "Smaller pack sizes for single people"),
    ("suggestion", "price"): ("A loyalty discount would be nice", "Bulk discount for regulars"),
    ("suggestion", "service"): ("Accept e-wallet payments (GCash, MoMo, Touch 'n Go)", "Open earlier on weekdays"),
    ("suggestion", "staff"): ("More staff at weekends please", "Staff who speak Tagalog would help"),
}
RESOLUTION_NOTES = {
    "delivery": ("Refunded delivery fee and apologised", "Re-sent missing items"),
    "quality": ("Replaced product, batch checked", "Refunded and removed batch from shelf"),
    "price": ("Duplicate charge refunded", "Explained new prices, gave 10% voucher"),
    "service": ("Apologised, offered voucher", "Called back and sorted the order"),
    "staff": ("Spoke with staff member; apology sent", "Manager called customer to apologise"),
}
COMPLAINT_CATEGORY_WEIGHTS = (30, 25, 15, 20, 10)
OTHER_CATEGORY_WEIGHTS = (15, 35, 10, 25, 15)

# --- follow-ups --------------------------------------------------------------------

FOLLOWUP_NOTES = ("Call to check in", "Offer the loyalty card", "Ask how the last order went",
                  "Invite to the tasting evening", "Tell them about the new catalogue")
FOLLOWUP_OUTCOMES = ("Spoke to them; ordering again next week", "Left a voicemail", "Sent a voucher by email",
                     "Said they moved away", "Happy, just busy; will drop by")
